# The official Core-tuning recipe for CIFAR-10 (see the CE-tuning twin
# for the data and optimisation): the command of the official README,
# `--eta_weight 0.1 --mixup_alpha 1 --train-batch 64 --accumulate_step 4`,
# with the official bias-free classifier.
_base_ = './cetune_resnet50-mocov2_1xb64-accum4-100e_cifar10-256.py'
model = dict(
    head=dict(
        _delete_=True,
        type='CoreContrastiveClsHead',
        num_classes=10,
        in_channels=2048,
        proj_channels=256,
        bias=False,
        mixup=dict(type='HardMixup', alpha=1.0, neg_lambda_min=0.8),
        core_loss=dict(type='CoreLoss', eta=0.1, temperature=0.07, gamma=1.0),
        topk=(1, )))
