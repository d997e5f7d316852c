# CE-tuning twin of coretune_deeplabv3plus_r50-d8-csl_...: DeepLabV3+
# ResNet-50-D8 on PASCAL VOC 2012 + SBD aug, 512x512, mmseg's 20k
# schedule (4 GPUs x 4),
# SyncBN, initialised from a contrastive self-supervised ResNet-50.
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py'  # noqa: E501
custom_imports = dict(imports=['coretune_mm'], allow_failed_imports=False)
# re-seed every iteration from (seed, iteration, rank): --resume continues
# exactly as an uninterrupted run would (coretune_mm.IterationSeedHook)
custom_hooks = [dict(type='IterationSeedHook')]

# Backbone weights in mmpretrain layout (keys `backbone.*`, torchvision
# names): by default mmpretrain's MoCo v2 ResNet-50 by its model-index name
# (`mmpretrain://NAME`, resolved by coretune_mm); a file or URL in
# `--cfg-options model.backbone.init_cfg.checkpoint=...` for another (a
# foreign release converted with tools/convert_csl_checkpoint.py).
csl_checkpoint = 'mmpretrain://mocov2_resnet50_8xb32-coslr-200e_in1k'

model = dict(
    pretrained=None,  # the base points at open-mmlab://resnet50_v1c
    backbone=dict(
        # plain (torchvision) stem instead of the V1c deep stem, so MoCo /
        # SimCLR / BYOL ResNet-50 weights load with every key matched
        type='ResNet',
        deep_stem=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=csl_checkpoint, prefix='backbone.')))
