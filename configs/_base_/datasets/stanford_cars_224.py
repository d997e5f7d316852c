# StanfordCars: mmpretrain's `StanfordCars` in its on-disk layout
#   car_ims/*.jpg + cars_annos.mat, or cars_{train,test}/ + devkit/*.mat
# split 'train' for training, 'test' for testing; the 224 px transfer
# pipeline. Point `data_root` at your copy.
_base_ = ['./transfer_224.py']
dataset_type = 'StanfordCars'
data_root = 'data/stanfordcars'
data_preprocessor = dict(num_classes=196)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='train'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
