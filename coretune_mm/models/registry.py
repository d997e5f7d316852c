"""Register the pure-PyTorch core components in the OpenMMLab registries of
the libraries that are installed (mmpretrain, mmsegmentation or both).

The classes themselves live in :mod:`coretune_mm.core` (no mm imports); the
classification and segmentation adapters build them from config as
``dict(type='HardMixup', ...)`` and ``dict(type='CoreLoss', ...)``.
"""
import importlib
import importlib.util

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
