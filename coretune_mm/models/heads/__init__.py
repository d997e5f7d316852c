from .core_cls_head import CoreContrastiveClsHead

__all__ = ['CoreContrastiveClsHead']
