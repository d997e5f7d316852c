# The official Core-tuning recipe (Vanint/Core-tuning: Core-tuning.py and
# the command of its README) for CIFAR-10, CE-tuning: MoCo v2 ResNet-50 at
# 256 px -- Resize(272, 272) bicubic, RandomRotation(15), RandomCrop(256),
# horizontal flip; test Resize(256); CIFAR mean/std; SGD nesterov lr 0.01,
# wd 1e-4, cosine over 100 epochs; batch 64 with 4-step gradient
# accumulation (total 256). The official classifier has no bias; mmpretrain's
# LinearClsHead has one (the Core-tuning twin's head is bias-free). Twin:
# coretune_resnet50-mocov2_1xb64-accum4-100e_cifar10-256.py
_base_ = [
    '../_base_/models/resnet50_csl.py',
    '../_base_/schedules/csl_finetune_100e.py',
    'mmpretrain::_base_/default_runtime.py'
]
dataset_type = 'CIFAR10'
data_root = 'data/cifar10'
# CIFAR's statistics, as the official script (its images are RGB already)
data_preprocessor = dict(
    num_classes=10,
    mean=[129.285, 124.185, 112.455],
    std=[68.085, 65.28, 70.38],
    to_rgb=False)
model = dict(head=dict(num_classes=10))
train_pipeline = [
    dict(
        type='Resize',
        scale=(272, 272),
        backend='pillow',
        interpolation='bicubic'),
    # torchvision's RandomRotation(15): an angle uniform in [-15, 15],
    # nearest-neighbour, black fill
    dict(
        type='Rotate',
        magnitude_range=(0, 15),
        magnitude_std='inf',
        random_negative_prob=0.5,
        prob=1.0,
        pad_val=0,
        interpolation='nearest'),
    dict(type='RandomCrop', crop_size=256),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(
        type='Resize',
        scale=(256, 256),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=False,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=100,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
# 64 x 4 accumulation steps = the official total batch of 256
optim_wrapper = dict(accumulative_counts=4)
auto_scale_lr = dict(base_batch_size=64)
