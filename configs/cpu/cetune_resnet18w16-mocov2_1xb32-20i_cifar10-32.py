# CPU-sized version of ../cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py
# (run from the repo root): 20 iterations of batch 32 on ../shared's CIFAR-10
# JPEGs from the MoCo-v2 checkpoint, validated on 500 of the 2,000 test
# images. For smoke, distributed and resume runs, not for accuracy numbers.
_base_ = '../coretune/cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True))
val_dataloader = dict(
    batch_size=250,
    num_workers=0,
    # every 4th file: 50 images of each class
    dataset=dict(indices=list(range(0, 2000, 4))))
test_dataloader = val_dataloader

max_iters = 20
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
param_scheduler = dict(
    _delete_=True, type='CosineAnnealingLR', T_max=max_iters, by_epoch=False)
default_hooks = dict(
    logger=dict(interval=5), checkpoint=dict(by_epoch=False, interval=10))
log_processor = dict(by_epoch=False)
