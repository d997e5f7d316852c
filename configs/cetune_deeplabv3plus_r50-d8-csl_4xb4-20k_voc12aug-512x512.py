# mmseg-convention alias of cetune_deeplabv3_voc.py
_base_ = './cetune_deeplabv3_voc.py'
