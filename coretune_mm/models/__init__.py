from . import registry  # noqa: F401  registers HardMixup/CoreLoss everywhere
from .heads import CoreContrastiveClsHead, CoreContrastiveSegHead

__all__ = ["CoreContrastiveClsHead", "CoreContrastiveSegHead"]
