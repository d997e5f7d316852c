# Core-tuning twin of cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py:
# only the head differs.
_base_ = './cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'
custom_imports = dict(imports=['coretune_mm'], allow_failed_imports=False)

model = dict(
    head=dict(
        _delete_=True,
        type='CoreContrastiveClsHead',
        num_classes=10,
        in_channels=128,
        proj_channels=256,
        mixup=dict(type='HardMixup', alpha=1.0, neg_lambda_min=0.8),
        core_loss=dict(type='CoreLoss', eta=0.1, temperature=0.07, gamma=1.0),
        topk=(1, )))
