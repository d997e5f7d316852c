# ResNet-50 + global pooling + linear classifier (mmpretrain), the backbone
# initialised from a contrastive self-supervised checkpoint whose weights
# sit under `backbone.*`: by default mmpretrain's MoCo v2 (200 epochs,
# ImageNet-1k), named as in mmpretrain's model index (`mmpretrain://NAME`,
# resolved to its URL by coretune_mm; `python tools/convert_csl_checkpoint.py
# --list` prints the others). Another checkpoint: a file or URL in
# `--cfg-options model.backbone.init_cfg.checkpoint=...` (a facebookresearch,
# DINO, VISSL, SimCLR or BYOL release converted first with
# tools/convert_csl_checkpoint.py).
custom_imports = dict(imports=['coretune_mm'], allow_failed_imports=False)
# re-seed every iteration from (seed, iteration, rank): --resume continues
# exactly as an uninterrupted run would (coretune_mm.IterationSeedHook)
custom_hooks = [dict(type='IterationSeedHook')]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        frozen_stages=-1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='mmpretrain://mocov2_resnet50_8xb32-coslr-200e_in1k',
            prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
