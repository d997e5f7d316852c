# Core-tuning on Caltech-101: the CE-tuning twin with the head swapped for
# CoreContrastiveClsHead (HardMixup + focal contrastive loss + smooth
# classifier) at the paper's hyper-parameters: eta 0.1, alpha 1, t 0.07,
# projector 256.
_base_ = './cetune_resnet50-mocov2_1xb256-100e_caltech101-224.py'
model = dict(
    head=dict(
        _delete_=True,
        type='CoreContrastiveClsHead',
        num_classes=102,
        in_channels=2048,
        proj_channels=256,
        mixup=dict(type='HardMixup', alpha=1.0, neg_lambda_min=0.8),
        core_loss=dict(type='CoreLoss', eta=0.1, temperature=0.07, gamma=1.0),
        topk=(1, )))
