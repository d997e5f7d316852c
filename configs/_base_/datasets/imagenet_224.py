# ImageNet: mmpretrain's `ImageNet` in its on-disk layout
#   {train,val}/ + meta/{train,val}.txt
# split 'train' for training, 'val' for testing; the 224 px transfer
# pipeline. Point `data_root` at your copy.
_base_ = ['./transfer_224.py']
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
data_preprocessor = dict(num_classes=1000)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='train'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='val'))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
