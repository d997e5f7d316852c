# OxfordIIITPet: mmpretrain's `OxfordIIITPet` in its on-disk layout
#   images/*.jpg + annotations/{trainval,test}.txt
# split 'trainval' for training, 'test' for testing; the 224 px transfer
# pipeline. Point `data_root` at your copy.
_base_ = ['./transfer_224.py']
dataset_type = 'OxfordIIITPet'
data_root = 'data/Oxford-IIIT_Pets'
data_preprocessor = dict(num_classes=37)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='trainval'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
