# Short entry point: Core-tuning DeepLabV3+ R50-D8 on VOC 2012 aug,
#   python tools/train.py configs/coretune_deeplabv3_voc.py
# an alias of configs/coretune/ (installed configs: coretune_mm::coretune/...).
_base_ = './coretune/coretune_deeplabv3plus_r50-d8-csl_4xb4-20k_voc12aug-512x512.py'  # noqa: E501
