# Core-tuning (the paper's eta 0.1) on the demo's digits at the schedule
# chosen on held-out training digits (docs/results/digits/selection.json:
# lr 0.1, 40 epochs): the config of the effect benchmark's final
# Core-tuning runs and of the demo's Core-tuning row.
_base_ = '../coretune/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'
data_root = 'work_dirs/demo_digits/data/digits32'
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='work_dirs/demo_digits/backbone.pth')))
data_preprocessor = dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False)
train_dataloader = dict(batch_size=64, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = dict(T_max=40, end=40)
train_cfg = dict(max_epochs=40)
