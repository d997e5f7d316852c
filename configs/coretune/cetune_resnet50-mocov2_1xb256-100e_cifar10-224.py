# CE-tuning of a MoCo v2 ResNet-50 on CIFAR-10 resized to 224 (bicubic
# Resize 256 + RandomCrop 224 + flip; test Resize 224; ImageNet
# normalisation), with the official Core-tuning script's optimisation (SGD
# nesterov lr 0.01, wd 1e-4, cosine, 100 epochs) at a total batch of 256.
# The official recipe itself (256 px, rotation, CIFAR statistics, batch
# 64 x 4 accumulation) is cetune_resnet50-mocov2_1xb64-accum4-100e_cifar10-256.
# Its Core-tuning twin differs only in `model.head`.
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    '../_base_/models/resnet50_csl.py',
    '../_base_/schedules/csl_finetune_100e.py',
    'mmpretrain::_base_/default_runtime.py'
]
model = dict(head=dict(num_classes=10))

# MoCo-v2 was pretrained on ImageNet: use its normalisation.
data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=False)
train_pipeline = [
    dict(type='Resize', scale=256, backend='pillow', interpolation='bicubic'),
    dict(type='RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    dataset=dict(pipeline=train_pipeline),
    drop_last=True)
val_dataloader = dict(
    batch_size=100, num_workers=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
