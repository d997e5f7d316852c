# Core-tuning twin of cetune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py:
# the same head swap as ../coretune_deeplabv3_voc.py, smaller pixel budget.
_base_ = './cetune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py'
custom_imports = dict(imports=['coretune_mm'], allow_failed_imports=False)

model = dict(
    decode_head=dict(
        type='CoreContrastiveSegHead',
        wrapped_type='DepthwiseSeparableASPPHead',
        proj_channels=256,
        max_pixels=256,
        mixup=dict(type='HardMixup', alpha=1.0, neg_lambda_min=0.8),
        core_loss=dict(type='CoreLoss', eta=0.1, temperature=0.07, gamma=1.0)))
