# Core-tuning on CIFAR-100 (224 px): the CE-tuning twin with the head
# swapped, paper hyper-parameters (eta 0.1, alpha 1, t 0.07, projector 256).
_base_ = './cetune_resnet50-mocov2_1xb256-100e_cifar100-224.py'
model = dict(
    head=dict(
        _delete_=True,
        type='CoreContrastiveClsHead',
        num_classes=100,
        in_channels=2048,
        proj_channels=256,
        mixup=dict(type='HardMixup', alpha=1.0, neg_lambda_min=0.8),
        core_loss=dict(type='CoreLoss', eta=0.1, temperature=0.07, gamma=1.0),
        topk=(1, )))
