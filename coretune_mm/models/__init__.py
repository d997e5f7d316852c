"""The mm-facing heads: the classification head when mmpretrain is
installed, the segmentation head when mmsegmentation is (either alone is
enough for its own head)."""
from . import registry  # noqa: F401  registers HardMixup/CoreLoss
from .registry import AVAILABLE, LIBRARIES

__all__ = []
if 'mmpretrain' in AVAILABLE:
    from .heads.core_cls_head import CoreContrastiveClsHead  # noqa: F401
    __all__.append('CoreContrastiveClsHead')
if 'mmseg' in AVAILABLE:
    from .heads.core_seg_head import CoreContrastiveSegHead  # noqa: F401
    __all__.append('CoreContrastiveSegHead')


def missing_head(name: str) -> ImportError:
    """The error for a head whose library is not installed."""
    library = {v: k for k, v in LIBRARIES.items()}[name]
    return ImportError(
        f'{name} needs {library}, which is not installed here '
        f'(pip install {"mmsegmentation" if library == "mmseg" else library})')


def __getattr__(name):
    if name in LIBRARIES.values():
        raise missing_head(name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
