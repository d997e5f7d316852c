# Core-tuning (the paper's eta 0.1) on the CIFAR-10 subset from the shared
# MoCo v2 checkpoint, at the schedule chosen on held-out training images
# (docs/results/cifar10/selection.json: lr 0.1, 80 epochs): the config of the
# effect benchmark's final Core-tuning runs.
_base_ = '../coretune/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'
optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = dict(T_max=80, end=80)
train_cfg = dict(max_epochs=80)
