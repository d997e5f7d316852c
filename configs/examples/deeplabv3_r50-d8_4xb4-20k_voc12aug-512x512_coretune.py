# Adding Core-tuning to an existing mmseg config: import the plugin, change
# the decode head's type and name the head it wraps -- nothing else changes.
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'
custom_imports = dict(imports=['coretune_mm'], allow_failed_imports=False)

model = dict(
    decode_head=dict(type='CoreContrastiveSegHead', wrapped_type='ASPPHead'))
