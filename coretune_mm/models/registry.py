"""Register the pure-PyTorch core components in both OpenMMLab registries.

The classes themselves live in :mod:`coretune_mm.core` (no mm imports); the
classification and segmentation adapters build them from config as
``dict(type='HardMixup', ...)`` and ``dict(type='CoreLoss', ...)``.
"""
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmseg.registry import MODELS as MMSEG_MODELS

from ..core import CoreLoss, HardMixup

for _registry in (MMPRETRAIN_MODELS, MMSEG_MODELS):
    for _module in (HardMixup, CoreLoss):
        _registry.register_module(module=_module)
