# CE-tuning of DeepLabV3+ on CamVid (11 classes, ../shared/data/camvid), CPU
# sized: images at 160x120 (a third of 480x360; predictions are read at the
# full 480x360 labels), the small MoCo v2 CIFAR ResNet-18 (width 16, output
# stride 8) of ../../checkpoints as backbone, loaded through mmengine's
# Pretrained init (checked by tools/train.py against the backbone: a wrong
# checkpoint is refused, not silently skipped). BN, no auxiliary head.
# Twin: coretune_deeplabv3plus_r18w16-mocov2_1xb8-2k_camvid-160x120.py.
# Benchmark: tools/analysis_tools/seg_benchmark.py.
_base_ = 'mmseg::_base_/default_runtime.py'
custom_imports = dict(
    imports=['coretune_mm', 'mmpretrain.models'], allow_failed_imports=False)
custom_hooks = [dict(type='IterationSeedHook')]

data_root = '../shared/data/camvid'
csl_checkpoint = 'checkpoints/mocov2_resnet18w16_1xb256-coslr-30e_cifar10-32_20261130-fc0120ac.pth'  # noqa: E501
classes = ('sky', 'building', 'pole', 'road', 'pavement', 'tree',
           'sign_symbol', 'fence', 'car', 'pedestrian', 'bicyclist')
crop_size = (120, 160)  # (h, w)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        # the MoCo v2 pretraining's normalisation (BGR files -> RGB)
        mean=[125.3, 123.0, 113.9],
        std=[63.0, 62.1, 66.7],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=crop_size),
    backbone=dict(
        type='mmpretrain.ResNet_CIFAR',
        depth=18,
        base_channels=16,
        stem_channels=16,
        out_indices=(0, 1, 2, 3),
        style='pytorch',
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='Pretrained', checkpoint=csl_checkpoint, prefix='backbone.')),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=128,
        in_index=3,
        channels=64,
        dilations=(1, 3, 6, 9),
        c1_in_channels=16,
        c1_channels=16,
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(160, 120),
        ratio_range=(1.0, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 120), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]


def _camvid(split, pipeline):
    return dict(
        type='BaseSegDataset',
        data_root=data_root,
        metainfo=dict(classes=classes),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        ignore_index=255,
        data_prefix=dict(
            img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
        pipeline=pipeline)


train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=_camvid('train', train_pipeline))
# model selection reads the val split; the test split is read once, by the
# benchmark's final runs (--cfg-options or seg_benchmark.py switch it)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_camvid('val', test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_camvid('test', test_pipeline))
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
max_iters = 2000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=250)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
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
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=max_iters,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
