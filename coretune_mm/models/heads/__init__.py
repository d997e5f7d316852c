"""``core_cls_head`` (mmpretrain) and ``core_seg_head`` (mmseg): imported
by :mod:`coretune_mm.models` for the libraries that are installed."""
