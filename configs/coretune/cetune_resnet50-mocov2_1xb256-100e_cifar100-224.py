# CE-tuning of a MoCo v2 ResNet-50 on CIFAR-100 resized to 224: the
# CIFAR-10 config with mmpretrain's CIFAR100 dataset. Twin:
# coretune_resnet50-mocov2_1xb256-100e_cifar100-224.py
_base_ = './cetune_resnet50-mocov2_1xb256-100e_cifar10-224.py'
data_preprocessor = dict(num_classes=100)
model = dict(head=dict(num_classes=100))
train_dataloader = dict(
    dataset=dict(type='CIFAR100', data_root='data/cifar100'))
val_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
test_dataloader = val_dataloader
