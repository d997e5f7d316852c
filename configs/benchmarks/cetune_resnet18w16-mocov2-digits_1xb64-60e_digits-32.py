# CE-tuning on the demo's digits at the schedule chosen on held-out training
# digits (docs/results/digits/selection.json: lr 0.05, 60 epochs): the config
# of the effect benchmark's final CE-tuning runs
# (`tools/analysis_tools/effect_benchmark.py --dataset digits`) and of the
# demo's CE-tuning row. `make demo` writes the data and the MoCo v2 backbone.
_base_ = '../coretune/cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'
data_root = 'work_dirs/demo_digits/data/digits32'
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='work_dirs/demo_digits/backbone.pth')))
data_preprocessor = dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False)
train_dataloader = dict(batch_size=64, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = dict(T_max=60, end=60)
train_cfg = dict(max_epochs=60)
