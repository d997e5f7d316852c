"""Every shipped classification config parses, builds and takes a step."""
import glob
import os
import os.path as osp

import pytest
import torch
from conftest import CONFIG_DIR
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import coretune_mm  # noqa: F401

# every classification Core-tuning config and its CE-tuning twin (the
# paper-setting one first)
PAPER = 'coretune/coretune_resnet50-mocov2_1xb256-100e_cifar10-224.py'
PAIRS = [(osp.join(folder, name), osp.join(folder, 'cetune_' + name[9:]))
         for folder in ('coretune', 'cpu')
         for name in sorted(os.listdir(osp.join(CONFIG_DIR, folder)))
         if name.startswith('coretune_resnet')]
PAIRS.sort(key=lambda pair: pair[0] != PAPER)


@pytest.mark.parametrize('core,ce', PAIRS)
def test_twins_differ_only_in_head(core, ce):
    core = Config.fromfile(osp.join(CONFIG_DIR, core)).to_dict()
    ce = Config.fromfile(osp.join(CONFIG_DIR, ce)).to_dict()
    for cfg in (core, ce):
        assert cfg['custom_imports'] == dict(
            imports=['coretune_mm'], allow_failed_imports=False)
        assert dict(type='IterationSeedHook') in cfg['custom_hooks']
    assert core['model'].pop('head')['type'] == 'CoreContrastiveClsHead'
    assert ce['model'].pop('head')['type'] == 'LinearClsHead'
    assert core == ce


def test_paper_setting():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, PAIRS[0][0]))
    assert cfg.train_dataloader.batch_size == 256
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)
    assert cfg.param_scheduler.type == 'CosineAnnealingLR'
    assert cfg.train_cfg.max_epochs == 100
    head = cfg.model.head
    assert head.proj_channels == 256 and head.mixup.alpha == 1.0
    assert (head.core_loss.eta, head.core_loss.temperature) == (0.1, 0.07)


@pytest.mark.parametrize(
    'path', [
        osp.join(CONFIG_DIR, PAIRS[0][0]),
        osp.join(CONFIG_DIR, 'examples', 'resnet18_8xb16_cifar10_coretune.py')
    ],
    ids=['resnet50-paper', 'custom-imports-example'])
def test_core_config_builds_and_steps(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.pop('init_cfg', None)  # no CSL weights in CI
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.head).__name__ == 'CoreContrastiveClsHead'
    data = dict(
        inputs=[
            torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)
            for _ in range(4)
        ],
        data_samples=[DataSample().set_gt_label(c) for c in (0, 1, 1, 2)])
    processed = model.data_preprocessor(data, True)
    losses = model(**processed, mode='loss')
    assert set(losses) == {'loss_ce_mix', 'loss_con', 'con_unscaled'}
    assert all(torch.isfinite(v) for v in losses.values())


def test_every_config_parses():
    paths = glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    assert len(paths) >= 5
    for path in paths:
        Config.fromfile(path)


def test_camvid_twins_differ_only_in_head_and_load_the_csl_backbone():
    """The CamVid DeepLabV3+ twins: the same config but the decode head
    (the Core one wraps the CE one's head type); the committed MoCo v2
    checkpoint fits their backbone (tools/train.py's check, which refuses a
    checkpoint of another architecture instead of training from random
    weights)."""
    from coretune_mm.utils import check_backbone_init
    name = 'deeplabv3plus_r18w16-mocov2_1xb8-2k_camvid-160x120.py'
    core = Config.fromfile(osp.join(CONFIG_DIR, 'camvid', 'coretune_' + name))
    ce = Config.fromfile(osp.join(CONFIG_DIR, 'camvid', 'cetune_' + name))
    assert check_backbone_init(ce) == [ce.model.backbone.init_cfg.checkpoint]
    core, ce = core.to_dict(), ce.to_dict()
    core_head, ce_head = (
        cfg['model'].pop('decode_head') for cfg in (core, ce))
    assert core_head['type'] == 'CoreContrastiveSegHead'
    assert core_head['wrapped_type'] == ce_head['type']
    assert core == ce
