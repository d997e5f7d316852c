# Core-tuning twin of cetune_deeplabv3plus_r18w16-mocov2_1xb8-2k_camvid-
# 160x120.py: only the decode head differs -- the same DeepLabV3+ head
# wrapped by CoreContrastiveSegHead (projector, hard pair mining on sampled
# pixels, focal supervised contrast + mixed-label CE on them).
_base_ = './cetune_deeplabv3plus_r18w16-mocov2_1xb8-2k_camvid-160x120.py'

model = dict(
    decode_head=dict(
        type='CoreContrastiveSegHead',
        wrapped_type='DepthwiseSeparableASPPHead',
        proj_channels=128,
        max_pixels=1024,
        mixup=dict(type='HardMixup', alpha=1.0, neg_lambda_min=0.8),
        core_loss=dict(type='CoreLoss', eta=0.1, temperature=0.07, gamma=1.0)))
