# Caltech101: mmpretrain's `Caltech101` in its on-disk layout
#   101_ObjectCategories/<class>/*.jpg + meta/{train,test}.txt
#   (mmpretrain's split files)
# split 'train' for training, 'test' for testing; the 224 px transfer
# pipeline. Point `data_root` at your copy.
_base_ = ['./transfer_224.py']
dataset_type = 'Caltech101'
data_root = 'data/caltech-101'
data_preprocessor = dict(num_classes=102)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='train'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
