"""Register the pure-PyTorch core components in the OpenMMLab registries of
the libraries that are installed (mmpretrain, mmsegmentation or both).

The classes themselves live in :mod:`coretune_mm.core` (no mm imports); the
classification and segmentation adapters build them from config as
``dict(type='HardMixup', ...)`` and ``dict(type='CoreLoss', ...)``.
"""
import importlib
import importlib.util

import torch.nn as nn

from ..core import CoreLoss, HardMixup

#: the OpenMMLab library of each task, and the head it serves
LIBRARIES = {
    'mmpretrain': 'CoreContrastiveClsHead',
    'mmseg': 'CoreContrastiveSegHead',
}


def installed(library: str) -> bool:
    """Whether ``library`` can be imported (an installed library that fails
    to import raises its own error when it is imported, not here)."""
    return importlib.util.find_spec(library) is not None


AVAILABLE = [lib for lib in LIBRARIES if installed(lib)]
if not AVAILABLE:
    raise ImportError(
        'coretune_mm needs mmpretrain (classification heads) or '
        'mmsegmentation (segmentation heads), or both: neither is installed '
        '(pip install mmpretrain / mmsegmentation)')

for _library in AVAILABLE:
    _registry = importlib.import_module(f'{_library}.registry').MODELS
    for _module in (HardMixup, CoreLoss):
        _registry.register_module(module=_module)


def build_core_part(cfg, registry, kind: type, arg: str, head: str, hint: str):
    """``cfg`` (a config dict or a module) built from ``registry`` and
    checked to be a ``kind`` (``HardMixup`` / ``CoreLoss``), so a wrong
    config is refused when the model is built, not at the first step."""
    if cfg is None:
        raise ValueError(f'{head}: {arg}=None is not allowed; {hint}')
    part = cfg if isinstance(cfg, nn.Module) else registry.build(cfg)
    if not isinstance(part, kind):
        raise TypeError(f'{head}: {arg} must build a {kind.__name__}, got '
                        f'{type(part).__name__}; {hint}')
    return part


MIXUP_HINT = ("write mixup=dict(type='HardMixup', ...), or "
              "dict(type='HardMixup', enabled=False) for the ablation "
              'without hard pair mining')
CORE_LOSS_HINT = ("write core_loss=dict(type='CoreLoss', eta=..., "
                  'temperature=..., gamma=...): Core-tuning trains with the '
                  'mixed-label cross-entropy + eta * focal contrastive loss '
                  '(its own CE term)')
