# CE-tuning of the small MoCo-v2 CIFAR ResNet-18 (width 16) that ships in
# ../shared/checkpoints, on the folder-per-class CIFAR-10 JPEGs of
# ../shared/data/cifar10-jpg. CPU-sized: the tests and the effect benchmark
# run it with fewer iterations. Twin: coretune_resnet18w16-mocov2_...py.
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['coretune_mm'], allow_failed_imports=False)
# re-seed every iteration from (seed, iteration, rank): --resume continues
# exactly as an uninterrupted run would (coretune_mm.IterationSeedHook)
custom_hooks = [
    dict(type='IterationSeedHook'),
    # pooled features for FeatureScatter (intra/inter-class scatter)
    dict(type='PooledFeatureHook')
]

data_root = '../shared/data/cifar10-jpg'
csl_checkpoint = '../shared/checkpoints/mocov2_resnet18w16-cifar10_8e.pth'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        base_channels=16,
        stem_channels=16,
        out_indices=(3, ),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=csl_checkpoint, prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

# the normalisation of the MoCo-v2 pretraining (BGR files -> RGB)
data_preprocessor = dict(
    num_classes=10,
    mean=[125.3, 123.0, 113.9],
    std=[63.0, 62.1, 66.7],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    drop_last=True,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=200,
    num_workers=2,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='FeatureScatter')
]
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=30, by_epoch=True, begin=0, end=30)
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=5)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=10))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
