from .core_cls_head import CoreContrastiveClsHead
from .core_seg_head import CoreContrastiveSegHead

__all__ = ['CoreContrastiveClsHead', 'CoreContrastiveSegHead']
