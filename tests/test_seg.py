"""Core-tuning in mmseg: the head on several decode heads, pixel sampling,
and real Runner runs on a drawn set in the PASCAL VOC layout (conftest)."""
import copy
import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch
from conftest import (BN, CONFIG_DIR, NUM_CLASSES, REPO_ROOT, VOC_ROOT,
                      feature_pyramid, load_tool, random_labels, require_data,
                      seg_samples)
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import MODELS

import coretune_mm  # noqa: F401
from coretune_mm import CoreContrastiveSegHead
from coretune_mm.core import balanced_quota, sample_pixels

HEADS = {
    'DepthwiseSeparableASPPHead':
    dict(
        in_channels=64,
        in_index=3,
        channels=16,
        dilations=(1, 2),
        c1_in_channels=8,
        c1_channels=4),
    'FCNHead':
    dict(in_channels=64, in_index=3, channels=16, num_convs=1),
    'ASPPHead':
    dict(in_channels=64, in_index=3, channels=16, dilations=(1, 2)),
    'UPerHead':
    dict(
        in_channels=[8, 16, 32, 64],
        in_index=[0, 1, 2, 3],
        channels=16,
        pool_scales=(1, 2)),
}


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmseg')


def head_cfg(wrapped, core=True, **extra):
    cfg = dict(
        HEADS[wrapped],
        num_classes=NUM_CLASSES,
        norm_cfg=BN,
        align_corners=False,
        dropout_ratio=0.0,
        **extra)
    if core:
        cfg.update(
            type='CoreContrastiveSegHead',
            wrapped_type=wrapped,
            proj_channels=8,
            max_pixels=64,
            mixup=dict(type='HardMixup', seed=0))
    else:
        cfg.update(type=wrapped)
    return cfg


@pytest.mark.parametrize('wrapped', list(HEADS))
def test_head_losses_gradients_and_inference(wrapped):
    head = MODELS.build(head_cfg(wrapped))
    assert isinstance(head, CoreContrastiveSegHead)
    assert isinstance(head, MODELS.get(wrapped))
    head.init_weights()
    feats = feature_pyramid()
    losses = head.loss(feats, seg_samples(random_labels()), None)
    assert set(losses) == {
        'loss_ce', 'loss_ce_mix', 'loss_con', 'con_unscaled', 'acc_seg'
    }
    assert all(torch.isfinite(losses[k]).all() for k in losses)
    assert losses['loss_con'] > 0 and losses['loss_ce_mix'] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert feats[-1].grad.abs().sum() > 0  # gradient reaches the "backbone"
    assert head.projector.fc1.weight.grad.abs().sum() > 0

    # inference is exactly the wrapped head's, with the same weights
    plain = MODELS.build(head_cfg(wrapped, core=False))
    state = {
        k: v
        for k, v in head.state_dict().items() if not k.startswith('projector')
    }
    plain.load_state_dict(state, strict=True)
    head.eval(), plain.eval()
    metas = [dict(img_shape=(16, 16), pad_shape=(16, 16))] * 2
    with torch.no_grad():
        torch.testing.assert_close(
            head.predict(feats, metas, None),
            plain.predict(feats, metas, None))


def test_no_valid_pixel_gives_connected_zeros():
    lab = torch.full((2, 16, 16), 255)
    head = MODELS.build(head_cfg('FCNHead'))
    feats = feature_pyramid()
    losses = head.loss(feats, seg_samples(lab), None)
    assert set(losses) == {
        'loss_ce', 'loss_ce_mix', 'loss_con', 'con_unscaled', 'acc_seg'
    }
    assert losses['loss_ce_mix'].item() == 0 and losses['loss_con'].item() == 0
    (losses['loss_ce_mix'] + losses['loss_con']).backward()
    # the projector is still in the graph (zero gradient), as DDP needs
    assert head.projector.fc1.weight.grad is not None


def test_one_class_pixels_are_contrasted_not_replaced():
    """One class only: the pixels stay rows of the contrast (all positives
    of each other here; under DDP other ranks' pixels are their
    negatives), not a zeroed placeholder."""
    lab = torch.full((2, 16, 16), 3)
    head = MODELS.build(head_cfg('FCNHead'))
    feats = feature_pyramid()
    seen = []
    head.core_loss.register_forward_hook(
        lambda m, args, kwargs, out: seen.append(kwargs['counts']),
        with_kwargs=True)
    losses = head.loss(feats, seg_samples(lab), None)
    assert seen == [[3 * head.max_pixels]]  # 512 pixels > budget 64
    assert losses['loss_con'].item() > 0 and losses['loss_ce_mix'].item() > 0
    assert all(torch.isfinite(v) for v in losses.values())


def test_bad_labels_and_configs():
    head = MODELS.build(head_cfg('FCNHead'))
    lab = random_labels()
    lab[0, 0, 0] = NUM_CLASSES + 2
    with pytest.raises(
            ValueError,
            match=r'labels must lie in \[0, 4\].*saw labels from '
            rf'0 to {NUM_CLASSES + 2}$'):
        head.loss(feature_pyramid(), seg_samples(lab), None)
    # refused when the model is built, with the cause
    for extra, error, said in (
        (dict(core_loss=dict(type='mmseg.CrossEntropyLoss')), TypeError,
         'must build a CoreLoss, got CrossEntropyLoss'),
        (dict(proj_channels=0), ValueError, 'proj_channels must be a '
         'positive integer'),
        (dict(mixup=None), ValueError, 'mixup=None is not allowed.*'
         'enabled=False'),
        (dict(core_loss=dict(type='CoreLoss', temperature=1e-8)), ValueError,
         'below 0.01'),
    ):
        with pytest.raises(error, match=said):
            MODELS.build(dict(head_cfg('FCNHead'), **extra))
    with pytest.raises(KeyError, match='not a registered mmseg decode head'):
        MODELS.build(dict(head_cfg('FCNHead'), wrapped_type='NoSuchHead'))
    with pytest.raises(TypeError, match='needs wrapped_type'):
        cfg = head_cfg('FCNHead')
        cfg.pop('wrapped_type')
        MODELS.build(cfg)


def test_sampling_ignores_respects_budget_and_balances():
    labels = torch.full((1000, ), 255)
    labels[:600] = 0  # a big class
    labels[600:650] = 1  # a small class
    labels[650:900] = 2
    labels = labels[torch.randperm(1000)]
    for budget in (30, 90, 200, 2000):
        idx = sample_pixels(labels, 3, budget)
        assert idx.numel() == min(budget, 900)
        assert len(set(idx.tolist())) == idx.numel()
        picked = labels[idx]
        assert (picked != 255).all()
        counts = torch.bincount(picked, minlength=3).tolist()
        if budget == 30:
            assert counts == [10, 10, 10]
        if budget == 200:  # class 1 gives 50, the others share the rest
            assert counts == [75, 50, 75]
    assert balanced_quota(torch.tensor([5, 0, 100]), 20).tolist() == [5, 0, 15]


def test_sampling_deterministic_under_seed():
    labels = random_labels(batch=1, size=32).flatten()
    a = sample_pixels(
        labels, NUM_CLASSES, 50, generator=torch.Generator().manual_seed(0))
    b = sample_pixels(
        labels, NUM_CLASSES, 50, generator=torch.Generator().manual_seed(0))
    c = sample_pixels(
        labels, NUM_CLASSES, 50, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert sample_pixels(torch.full((10, ), 255), 3, 5).numel() == 0


def test_head_max_pixels_bounds_contrasted_rows():
    head = MODELS.build(head_cfg('FCNHead', ))
    feats = feature_pyramid(size=64)
    seg_label, order, num, _ = head._sample_order(
        feats[-1].detach()[:, :16], seg_samples(random_labels(size=64)))
    assert int(num) == 64 == head.max_pixels
    assert (seg_label[order[:int(num)]] != 255).all()


# --------------------------------------------------------------------------
# Real Runner runs on the VOC mini set

CPU_CORE_CFG = osp.join(
    CONFIG_DIR, 'cpu', 'coretune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py')
CPU_CE_CFG = osp.join(CONFIG_DIR, 'cpu',
                      'cetune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py')


def voc_mini_cfg(path, work_dir, max_iters=4):
    """A configs/cpu config with absolute data paths and fewer iterations."""
    require_data(VOC_ROOT)
    cfg = Config.fromfile(path)
    cfg.work_dir = str(work_dir)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = VOC_ROOT
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters)
    cfg.param_scheduler[0].end = max_iters
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    return cfg


def test_coretune_deeplabv3_voc_runner_val_and_resume(tmp_path):
    cfg = voc_mini_cfg(CPU_CORE_CFG, tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert type(runner.model.decode_head).__name__ == \
        'CoreDepthwiseSeparableASPPHead'
    scalars = runner.message_hub.log_scalars
    for key in ('decode.loss_ce', 'decode.loss_ce_mix', 'decode.loss_con'):
        assert f'train/{key}' in scalars
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['mIoU'] <= 100.0
    assert osp.exists(tmp_path / 'iter_4.pth')

    cfg = voc_mini_cfg(CPU_CORE_CFG, tmp_path / 'resumed')
    cfg.resume, cfg.load_from = True, str(tmp_path / 'iter_2.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 4
    assert not osp.exists(tmp_path / 'resumed' / 'iter_2.pth')


def test_untouched_mmseg_config_with_head_swap_trains(tmp_path):
    path = osp.join(CONFIG_DIR, 'examples',
                    'deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512_coretune.py')
    cfg = Config.fromfile(path)
    # the CPU overrides of configs/cpu, applied to this untouched config
    cpu = voc_mini_cfg(CPU_CE_CFG, tmp_path, max_iters=1)
    for key in ('work_dir', 'train_dataloader', 'val_dataloader',
                'test_dataloader', 'train_cfg', 'param_scheduler',
                'default_hooks', 'env_cfg', 'randomness'):
        cfg[key] = cpu[key]
    cfg.model.update(
        pretrained=None,
        data_preprocessor=cpu.model.data_preprocessor,
        backbone=cpu.model.backbone,
        auxiliary_head=cpu.model.auxiliary_head)
    cfg.model.decode_head.update(in_channels=512, channels=32, norm_cfg=BN)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert type(runner.model.decode_head).__name__ == 'CoreASPPHead'
    assert 'train/decode.loss_con' in runner.message_hub.log_scalars


def test_train_and_test_tools_on_voc_mini(tmp_path):
    require_data(VOC_ROOT)
    overrides = [
        f'train_dataloader.dataset.data_root={VOC_ROOT}',
        f'val_dataloader.dataset.data_root={VOC_ROOT}',
        f'test_dataloader.dataset.data_root={VOC_ROOT}',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2'
    ]
    work_dir = str(tmp_path / 'run')
    load_tool('train.py').main(
        [CPU_CORE_CFG, '--work-dir', work_dir, '--cfg-options', *overrides])
    assert osp.exists(osp.join(work_dir, 'iter_2.pth'))
    # --resume without a value continues from the latest checkpoint
    load_tool('train.py').main([
        CPU_CORE_CFG, '--work-dir', work_dir, '--resume', '--cfg-options',
        *overrides[:-3], 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
        'default_hooks.checkpoint.interval=1'
    ])
    assert osp.exists(osp.join(work_dir, 'iter_3.pth'))
    # mmseg's semantics: --out a directory of predicted masks, every
    # iteration drawn; a relative --show-dir goes under the run folder. In a
    # fresh process, as a user runs it: mmengine keeps one visualizer per
    # process, and the training runs above made it.
    out = str(tmp_path / 'preds')
    test_dir = str(tmp_path / 'test')
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'test.py'), CPU_CORE_CFG,
        osp.join(work_dir, 'iter_3.pth'), '--work-dir', test_dir, '--out', out,
        '--show-dir', 'shown', '--cfg-options', *overrides[:3]
    ],
                          cwd=str(tmp_path),
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'mIoU' in proc.stdout + proc.stderr
    num_test = len(
        open(osp.join(VOC_ROOT, 'ImageSets', 'Segmentation',
                      'val.txt')).read().split())
    assert len(glob.glob(osp.join(out, '*.png'))) == num_test
    drawn = glob.glob(
        osp.join(test_dir, 'shown', '**', '*.png'), recursive=True)
    assert len(drawn) == num_test, drawn
    with pytest.raises(ValueError, match='directory'):
        load_tool('test.py').main([
            CPU_CORE_CFG,
            osp.join(work_dir, 'iter_3.pth'), '--out', out, '--out-item',
            'metrics'
        ])


def test_seg_twins_differ_only_in_head_and_backbone_keys_match():
    core = Config.fromfile(osp.join(CONFIG_DIR, 'coretune_deeplabv3_voc.py'))
    ce = Config.fromfile(osp.join(CONFIG_DIR, 'cetune_deeplabv3_voc.py'))
    core_d, ce_d = core.to_dict(), ce.to_dict()
    core_head = core_d['model'].pop('decode_head')
    ce_head = ce_d['model'].pop('decode_head')
    assert core_d == ce_d
    assert core_head.pop('type') == 'CoreContrastiveSegHead'
    assert core_head.pop('wrapped_type') == ce_head.pop('type')
    for key in ('proj_channels', 'max_pixels', 'mixup', 'core_loss'):
        core_head.pop(key)
    assert core_head == ce_head
    assert ce.model.backbone.norm_cfg.type == 'SyncBN'
    assert ce.train_cfg.max_iters == 20000

    # a torchvision-layout ResNet-50 (MoCo/SimCLR/BYOL) matches every key
    import torchvision
    tv_keys = {
        k
        for k in torchvision.models.resnet50().state_dict()
        if not k.startswith('fc.')
    }
    backbone_cfg = copy.deepcopy(ce.model.backbone)
    backbone_cfg.update(norm_cfg=BN, init_cfg=None)
    backbone = MODELS.build(backbone_cfg)
    assert set(backbone.state_dict()) == tv_keys


def test_balanced_quota_matches_the_water_filling_loop():
    """The tensor-only quota (no host read) against the plain loop."""

    def loop(counts, budget):
        if int(counts.sum()) <= budget:
            return counts.clone()
        sizes = counts[counts > 0].sort().values.tolist()
        remaining, left, share = budget, len(sizes), 0
        for c in sizes:
            share = remaining // left
            if c > share:
                break
            remaining -= c
            left -= 1
        quota = counts.clamp(max=share)
        spare = counts > quota
        leftover = budget - int(quota.sum())
        return quota + (spare & (torch.cumsum(spare, 0) <= leftover)).long()

    g = torch.Generator().manual_seed(0)
    for _ in range(2000):
        c = int(torch.randint(1, 9, (1, ), generator=g))
        counts = torch.randint(0, 60, (c, ), generator=g)
        counts[torch.rand(c, generator=g) < 0.3] = 0
        budget = int(torch.randint(1, 150, (1, ), generator=g))
        assert torch.equal(
            balanced_quota(counts, budget), loop(counts,
                                                 budget)), (counts, budget)
