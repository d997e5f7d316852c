# CE-tuning twin of coretune_deeplabv3_voc.py (an alias of configs/coretune/).
_base_ = './coretune/cetune_deeplabv3plus_r50-d8-csl_4xb4-20k_voc12aug-512x512.py'  # noqa: E501
