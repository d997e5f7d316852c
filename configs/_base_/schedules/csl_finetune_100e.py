# The official Core-tuning script's optimisation (Vanint/Core-tuning,
# Core-tuning.py and its README command): SGD with Nesterov momentum 0.9,
# lr 0.01, weight decay 1e-4, cosine annealing over 100 epochs, for a total
# batch of 256.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
