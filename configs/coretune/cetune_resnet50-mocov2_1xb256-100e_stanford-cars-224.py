# CE-tuning of a MoCo v2 ResNet-50 on Stanford Cars: the official Core-tuning
# script's optimisation (SGD nesterov lr 0.01, wd 1e-4, cosine, 100 epochs,
# total batch 256) at 224 px. Its Core-tuning twin differs only in
# `model.head`: coretune_resnet50-mocov2_1xb256-100e_stanford-cars-224.py
_base_ = [
    '../_base_/datasets/stanford_cars_224.py',
    '../_base_/models/resnet50_csl.py',
    '../_base_/schedules/csl_finetune_100e.py',
    'mmpretrain::_base_/default_runtime.py'
]
model = dict(head=dict(num_classes=196, topk=(1, )))
