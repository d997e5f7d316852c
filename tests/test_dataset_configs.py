"""The paper's datasets as configs: each Core-tuning config trains a few
iterations and validates on a tiny dataset written in its mmpretrain class's
real on-disk layout (tests/dataset_layouts.py); its CE-tuning twin builds
the same datasets. No download: the CSL checkpoint is not loaded."""
import copy
import math
import os.path as osp

import dataset_layouts
import pytest
from conftest import CONFIG_DIR
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.registry import DATASETS

import coretune_mm  # noqa: F401

# dataset layout -> config name tail, number of classes
PAPER_DATASETS = {
    'caltech101': ('1xb256-100e_caltech101-224', 102),
    'dtd': ('1xb256-100e_dtd-224', 47),
    'fgvc_aircraft': ('1xb256-100e_fgvc-aircraft-224', 100),
    'stanford_cars': ('1xb256-100e_stanford-cars-224', 196),
    'oxford_iiit_pet': ('1xb256-100e_oxford-iiit-pet-224', 37),
    'flowers102': ('1xb256-100e_flowers102-224', 102),
    'imagenet': ('8xb32-100e_in1k-224', 1000),
}


def config(method, tail):
    return Config.fromfile(
        osp.join(CONFIG_DIR, 'coretune',
                 f'{method}_resnet50-mocov2_{tail}.py'))


def tiny_run(cfg, data_root, work_dir, batch_size=4):
    """The config on ``data_root``: no CSL weights, one epoch, batch
    ``batch_size``, no workers, no checkpoint file."""
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.init_cfg = None
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.dataset.data_root = data_root
        loader.update(batch_size=batch_size, num_workers=0)
        loader.pop('persistent_workers', None)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=0)
    return cfg


def train_and_validate(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert 0 <= scalars['val/accuracy/top1'].current() <= 100
    for key in ('train/loss_ce_mix', 'train/loss_con'):
        assert math.isfinite(scalars[key].current()), key
    return runner


@pytest.mark.parametrize('layout', list(PAPER_DATASETS))
def test_paper_dataset_config_trains_and_validates(layout, tmp_path):
    tail, num_classes = PAPER_DATASETS[layout]
    data_root = str(tmp_path / 'data')
    dataset_layouts.WRITERS[layout](data_root)
    core, ce = config('coretune', tail), config('cetune', tail)
    assert core.model.head.num_classes == num_classes
    assert ce.model.head.num_classes == num_classes
    assert core.data_preprocessor.num_classes == num_classes
    init_default_scope('mmpretrain')
    # the CE twin reads the same dataset (the twins differ only in the head)
    ce = tiny_run(ce, data_root, tmp_path / 'ce')
    for name in ('train_dataloader', 'val_dataloader'):
        assert len(DATASETS.build(ce[name].dataset)) > 0
    runner = train_and_validate(tiny_run(core, data_root, tmp_path / 'core'))
    assert len(runner.train_dataloader.dataset) == 8  # the training split
    assert len(runner.val_dataloader.dataset) == 4  # the test split


def _tiny_cifar(base, root):
    """mmpretrain's CIFAR class on the tiny pickles: its integrity check
    compares md5 sums with the real files', so this subclass carries the
    tiny files' sums; the loading code is the class's own."""
    key = 'fine_labels' if base is CIFAR100 else 'labels'
    md5 = dataset_layouts.cifar(root, base.base_folder, key)
    name = f'Tiny{base.__name__}'
    DATASETS.register_module(
        name=name,
        force=True,
        module=type(
            name, (base, ),
            dict(
                train_list=[['train', md5['train']]],
                test_list=[['test', md5['test']]],
                meta=dict(base.meta, md5=md5['meta']))))
    return name


@pytest.mark.parametrize('tag,base', [('cifar10', CIFAR10),
                                      ('cifar100', CIFAR100)])
def test_official_recipe_config(tag, base, tmp_path):
    """The official script's recipe: 256 px crops of 272 px resized images,
    batch 64 with 4-step accumulation, a bias-free Core-tuning classifier;
    trains (4 iterations = one accumulated step) and validates."""
    tail = f'1xb64-accum4-100e_{tag}-256'
    core, ce = config('coretune', tail), config('cetune', tail)
    assert core.train_dataloader.batch_size == 64
    assert core.optim_wrapper.accumulative_counts == 4
    assert core.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)
    assert core.model.head.bias is False and ce.model.head.type == \
        'LinearClsHead'
    assert (core.model.head.core_loss.eta, core.model.head.mixup.alpha) == \
        (0.1, 1.0)
    root = str(tmp_path / 'data')
    dataset = _tiny_cifar(base, root)
    cfg = tiny_run(core, root, tmp_path / 'core', batch_size=2)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[name].dataset.type = dataset
    init_default_scope('mmpretrain')
    runner = train_and_validate(cfg)
    assert runner.model.head.fc.bias is None
    batch = next(iter(runner.train_dataloader))
    assert tuple(batch['inputs'][0].shape) == (3, 256, 256)
    assert runner.optim_wrapper._accumulative_counts == 4
