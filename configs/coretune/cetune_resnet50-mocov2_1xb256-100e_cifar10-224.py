# CE-tuning twin of coretune_resnet50-mocov2_1xb256-100e_cifar10-224.py:
# fine-tune a MoCo-v2 ResNet-50 on CIFAR-10 (resized to 224) with plain
# cross-entropy, in the paper's setting (batch 256, SGD nesterov lr 0.01,
# wd 1e-4, cosine, 100 epochs). The two configs differ only in `model.head`.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['coretune_mm'], allow_failed_imports=False)
# re-seed every iteration from (seed, iteration, rank): --resume continues
# exactly as an uninterrupted run would (coretune_mm.IterationSeedHook)
custom_hooks = [dict(type='IterationSeedHook')]

# Backbone weights of a contrastive self-supervised model in mmpretrain
# layout (keys `backbone.*`): an mmpretrain/mmselfsup MoCo-v2 checkpoint as
# is, or a facebookresearch one converted as the README explains.
csl_checkpoint = 'checkpoints/mocov2_resnet50_backbone.pth'

model = dict(
    backbone=dict(
        frozen_stages=-1,
        init_cfg=dict(
            type='Pretrained', checkpoint=csl_checkpoint, prefix='backbone.')),
    head=dict(num_classes=10, in_channels=2048, topk=(1, )))

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

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
