# DTD: mmpretrain's `DTD` in its on-disk layout
#   images/<class>/*.jpg + imdb/imdb.mat (split 1)
# split 'trainval' for training, 'test' for testing; the 224 px transfer
# pipeline. Point `data_root` at your copy.
_base_ = ['./transfer_224.py']
dataset_type = 'DTD'
data_root = 'data/dtd'
data_preprocessor = dict(num_classes=47)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='trainval'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
