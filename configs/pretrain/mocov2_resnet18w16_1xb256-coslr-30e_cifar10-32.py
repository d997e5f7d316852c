# The 100-epoch recipe (same network, data, augmentations, optimizer) on a
# 30-epoch cosine schedule, a checkpoint every 5 epochs for the kNN curve:
# the run that fits one ~2 h stretch of a 2-core machine (1.1-1.2 s per
# iteration in float32 with the data worker beside it, ~3.9 min per epoch).
# The project's committed checkpoint (checkpoints/README.md) comes from it.
#   python tools/train.py \
#       configs/pretrain/mocov2_resnet18w16_1xb256-coslr-30e_cifar10-32.py \
#       --cfg-options train_dataloader.dataset.data_root=PATH/TO/cifar10/train
_base_ = ['./mocov2_resnet18w16_1xb256-coslr-100e_cifar10-32.py']
max_epochs = 30
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
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=-1))
