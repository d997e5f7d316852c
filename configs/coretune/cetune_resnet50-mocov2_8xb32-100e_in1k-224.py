# CE-tuning of a MoCo v2 ResNet-50 on ImageNet-1k: the official Core-tuning
# script's optimisation (SGD nesterov lr 0.01, wd 1e-4, cosine, 100 epochs,
# total batch 256) at 224 px. Its Core-tuning twin differs only in
# `model.head`: coretune_resnet50-mocov2_8xb32-100e_in1k-224.py
_base_ = [
    '../_base_/datasets/imagenet_224.py', '../_base_/models/resnet50_csl.py',
    '../_base_/schedules/csl_finetune_100e.py',
    'mmpretrain::_base_/default_runtime.py'
]
model = dict(head=dict(num_classes=1000, topk=(1, 5)))

train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader
