# Adding Core-tuning to an existing mmpretrain config: import the plugin and
# swap the head -- nothing else changes. (Here the base trains from scratch;
# point `model.backbone.init_cfg` at a CSL checkpoint to fine-tune one.)
_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'
custom_imports = dict(imports=['coretune_mm'], allow_failed_imports=False)

model = dict(
    head=dict(
        _delete_=True,
        type='CoreContrastiveClsHead',
        num_classes=10,
        in_channels=512,
        core_loss=dict(type='CoreLoss', eta=0.1)))
