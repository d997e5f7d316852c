from . import registry  # noqa: F401  registers HardMixup/CoreLoss everywhere
from .heads import CoreContrastiveClsHead

__all__ = ['CoreContrastiveClsHead']
