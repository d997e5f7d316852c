"""coretune-mm: Core-tuning for mmpretrain and mmsegmentation.

``import coretune_mm`` (or ``custom_imports=dict(imports=['coretune_mm'])``)
registers every component in the OpenMMLab registries.
"""
from .core import (CoreLoss, HardMixup, ProjectionHead, focal_supcon_loss,
                   soft_target_cross_entropy)
from .engine import ContrastiveInitHook, IterationSeedHook, PooledFeatureHook
from .evaluation import FeatureScatter
from .models import CoreContrastiveClsHead, CoreContrastiveSegHead
from .version import __version__

__all__ = [
    'CoreContrastiveClsHead', 'CoreContrastiveSegHead', 'CoreLoss',
    'ContrastiveInitHook', 'FeatureScatter', 'IterationSeedHook',
    'PooledFeatureHook', 'HardMixup', 'ProjectionHead',
    'focal_supcon_loss', 'soft_target_cross_entropy', '__version__'
]
