# Core-tuning DeepLabV3+ ResNet-50-D8 on PASCAL VOC 2012 + SBD aug (512x512,
# 20k iterations, SyncBN) from a contrastive self-supervised ResNet-50:
#   python tools/train.py configs/coretune_deeplabv3_voc.py   (an alias)
# The CE-tuning twin (cetune_...) differs only in the head type.
_base_ = './cetune_deeplabv3plus_r50-d8-csl_4xb4-20k_voc12aug-512x512.py'
custom_imports = dict(imports=['coretune_mm'], allow_failed_imports=False)

model = dict(
    decode_head=dict(
        type='CoreContrastiveSegHead',
        wrapped_type='DepthwiseSeparableASPPHead',
        proj_channels=256,
        max_pixels=1024,
        mixup=dict(type='HardMixup', alpha=1.0, neg_lambda_min=0.8),
        core_loss=dict(type='CoreLoss', eta=0.1, temperature=0.07, gamma=1.0)))
