# MoCo v2 pretraining of a narrow CIFAR ResNet-18 (width 16) with
# mmpretrain's own MoCo on the 50,000 CIFAR-10 training images (no labels):
# the recipe of the project's CIFAR backbone, the shared 8-epoch checkpoint's
# recipe run longer (100 epochs, a checkpoint every 10 for the kNN curve).
#   python tools/train.py \
#       configs/pretrain/mocov2_resnet18w16_1xb256-coslr-100e_cifar10-32.py \
#       --cfg-options train_dataloader.dataset.data_root=PATH/TO/cifar10/train
# `data_root`: folder-per-class JPEGs (train/<class>/*.jpg). Measured on a
# 2-core Intel Xeon (AVX-512/AMX), machine idle, batch 256: 0.78 s per
# iteration in float32 (195 iterations, ~2.5 min per epoch), 0.69 s with a
# channels-last model, 0.60 s under CPU bfloat16 autocast; data loading
# (1 worker) is not the bottleneck (0.82 s with none). Judge it with
# tools/analysis_tools/knn_eval.py (docs/benchmarks.md).
default_scope = 'mmpretrain'
data_root = 'data/cifar10/train'
mean = [125.3, 123.0, 113.9]
std = [63.0, 62.1, 66.7]
model = dict(
    type='MoCo',
    queue_len=4096,
    feat_dim=128,
    momentum=0.01,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor', mean=mean, std=std, to_rgb=True),
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        base_channels=16,
        stem_channels=16,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='MoCoV2Neck',
        in_channels=128,
        hid_channels=512,
        out_channels=128,
        with_avg_pool=True),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.2))
view_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.2, 1.),
        backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.4,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=1,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        with_label=False,
        pipeline=train_pipeline))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.06, momentum=0.9, weight_decay=5e-4))
max_epochs = 100
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # every 10th epoch kept (the kNN-vs-epoch curve); --resume continues
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=-1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='gloo'))
log_processor = dict(window_size=20, by_epoch=True)
randomness = dict(seed=0)
log_level = 'INFO'
load_from = None
resume = False
