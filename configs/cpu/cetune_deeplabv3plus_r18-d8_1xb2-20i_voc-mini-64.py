# CPU-sized version of ../cetune_deeplabv3_voc.py for the real 17-image VOC
# mini set in ../shared (run from the repo root): BN instead of SyncBN (which
# is GPU-only in PyTorch), ResNet-18 from random init, 64x64 crops,
# 20 iterations. For pipeline checks and smoke runs, not for mIoU numbers.
_base_ = '../coretune/cetune_deeplabv3plus_r50-d8-csl_4xb4-20k_voc12aug-512x512.py'  # noqa: E501

data_root = '../shared/data/voc-mini/VOCdevkit/VOC2012'
crop_size = (64, 64)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, norm_cfg=norm_cfg, init_cfg=None),
    decode_head=dict(
        in_channels=512,
        channels=32,
        c1_in_channels=64,
        c1_channels=8,
        norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, channels=16, norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(256, 96),
        ratio_range=(0.8, 1.2),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 96), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='PascalVOCDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='PascalVOCDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 20
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(by_epoch=False, interval=10))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
