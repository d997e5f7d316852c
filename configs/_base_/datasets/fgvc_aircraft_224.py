# FGVCAircraft: mmpretrain's `FGVCAircraft` in its on-disk layout
#   data/images/*.jpg + data/images_variant_{trainval,test}.txt (variants)
# split 'trainval' for training, 'test' for testing; the 224 px transfer
# pipeline. Point `data_root` at your copy.
_base_ = ['./transfer_224.py']
dataset_type = 'FGVCAircraft'
data_root = 'data/fgvc-aircraft-2013b'
data_preprocessor = dict(num_classes=100)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='trainval'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
