# The official Core-tuning recipe for CIFAR-100, CE-tuning: the CIFAR-10
# recipe (cetune_resnet50-mocov2_1xb64-accum4-100e_cifar10-256.py, its
# comments say what it is) on mmpretrain's CIFAR100 dataset. Twin:
# coretune_resnet50-mocov2_1xb64-accum4-100e_cifar100-256.py
_base_ = './cetune_resnet50-mocov2_1xb64-accum4-100e_cifar10-256.py'
data_preprocessor = dict(num_classes=100)
model = dict(head=dict(num_classes=100))
train_dataloader = dict(
    dataset=dict(type='CIFAR100', data_root='data/cifar100'))
val_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
test_dataloader = val_dataloader
