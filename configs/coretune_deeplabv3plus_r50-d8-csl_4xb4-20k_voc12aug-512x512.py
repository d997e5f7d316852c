# mmseg-convention alias of coretune_deeplabv3_voc.py
_base_ = './coretune_deeplabv3_voc.py'
