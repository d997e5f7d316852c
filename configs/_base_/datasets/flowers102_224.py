# Flowers102: mmpretrain's `Flowers102` in its on-disk layout
#   jpg/image_*.jpg + imagelabels.mat + setid.mat
# split 'trainval' for training, 'test' for testing; the 224 px transfer
# pipeline. Point `data_root` at your copy.
_base_ = ['./transfer_224.py']
dataset_type = 'Flowers102'
data_root = 'data/flowers102'
data_preprocessor = dict(num_classes=102)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='trainval'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
