"""coretune-mm: Core-tuning for mmpretrain and mmsegmentation.

``import coretune_mm`` (or ``custom_imports=dict(imports=['coretune_mm'])``)
registers every component in the OpenMMLab registries, the
``coretune_mm::`` config scope (``_base_ = ['coretune_mm::coretune/...']``)
and allow-lists the mmengine checkpoint types for torch's weights-only
loading.
"""
from . import models
from .core import (CoreLoss, HardMixup, ProjectionHead, focal_supcon_loss,
                   soft_target_cross_entropy)
from .engine import ContrastiveInitHook, IterationSeedHook, PooledFeatureHook
from .evaluation import FeatureScatter
from .models import *  # noqa: F401,F403  the heads of the installed libraries
from .utils import (allow_mmengine_checkpoints, register_config_scope,
                    register_csl_scheme)
from .version import __version__

# mmengine checkpoints (load_from, --resume, mmpretrain's self-supervised
# ones) load weights-only: their message-hub types are allow-listed, nothing
# else (coretune_mm.utils.safe_load)
allow_mmengine_checkpoints()
# `coretune_mm::folder/config.py` resolves to the installed package's configs
register_config_scope()
# `mmpretrain://NAME`: the self-supervised checkpoint of mmpretrain's model
# zoo named NAME, its URL read from the installed mmpretrain's model index
register_csl_scheme()

__all__ = [
    'CoreLoss', 'ContrastiveInitHook', 'FeatureScatter', 'IterationSeedHook',
    'PooledFeatureHook', 'HardMixup', 'ProjectionHead', 'focal_supcon_loss',
    'soft_target_cross_entropy', '__version__'
]
__all__ += models.__all__  # the heads of the installed libraries


def __getattr__(name):
    if name in models.LIBRARIES.values():
        raise models.missing_head(name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
