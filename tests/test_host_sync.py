"""Host-device synchronisations of a real training step (CPU, real data).

On a GPU every read of a device value on the host (``.item()``, ``bool()``
of a tensor, ``tolist()``, ``int()``, a shape that depends on the data:
``nonzero``, ``unique``, boolean-mask indexing, ``bincount`` without a
fixed length) stalls the pipeline. Core-tuning's additions must cost at
most one such read per training step: the collective plan of
``coretune_mm.core.decision.plan_step``. The counts are taken by patching
the Python entry points of those operations during ``model.train_step``;
CE-tuning (same config, plain head) is counted the same way, and the
difference is what Core-tuning adds.
"""
import contextlib
import os.path as osp

import pytest
import torch
from conftest import CIFAR_ROOT, CONFIG_DIR, MOCO_CKPT, VOC_ROOT, require_data
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import coretune_mm  # noqa: F401
from coretune_mm.utils import build_model_without_checkpoints

_TENSOR_METHODS = ('item', 'tolist', '__bool__', '__int__', '__float__',
                   '__index__', 'nonzero', 'unique', 'masked_select')
_TORCH_FUNCTIONS = ('nonzero', 'unique', 'masked_select', 'argwhere')


@contextlib.contextmanager
def count_host_reads():
    """Count calls that read device data back (or size a result by it)."""
    counts = {}

    def counting(owner, name, original, when=lambda *a, **k: True):

        def wrapper(*args, **kwargs):
            if when(*args, **kwargs):
                counts[name] = counts.get(name, 0) + 1
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)

    saved = []
    for name in _TENSOR_METHODS:
        saved.append((torch.Tensor, name, getattr(torch.Tensor, name)))
    for name in _TORCH_FUNCTIONS:
        saved.append((torch, name, getattr(torch, name)))
    saved.append((torch.Tensor, '__getitem__', torch.Tensor.__getitem__))
    saved.append((torch, 'bincount', torch.bincount))
    try:
        for owner, name, original in saved:
            if name == '__getitem__':

                def bool_index(self, index):
                    parts = index if isinstance(index, tuple) else (index, )
                    return any(
                        isinstance(p, torch.Tensor) and p.dtype == torch.bool
                        for p in parts)

                counting(owner, name, original, bool_index)
            elif name == 'bincount':
                counting(owner, name, original,
                         lambda *a, **k: not k.get('minlength'))
            else:
                counting(owner, name, original)
        yield counts
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def one_batch_step(cfg):
    """Build the model and an optimiser wrapper from ``cfg``, take one real
    batch from its train dataloader, return the host reads of a
    ``train_step`` (after one warm-up step)."""
    init_default_scope(cfg.default_scope)
    model = build_model_without_checkpoints(cfg)
    model.init_weights()
    model.train()
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batch = next(iter(loader))
    from mmengine.optim import build_optim_wrapper
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train_step(batch, optim_wrapper)  # warm-up (lazy generators etc.)
    with count_host_reads() as counts:
        log_vars = model.train_step(batch, optim_wrapper)
    assert all(torch.isfinite(v) for v in log_vars.values())
    return counts


def cls_cfg(prefix):
    require_data(CIFAR_ROOT)
    require_data(MOCO_CKPT)
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, 'cpu',
                 f'{prefix}_resnet18w16-mocov2_1xb32-20i_cifar10-32.py'))
    cfg.train_dataloader.dataset.data_root = CIFAR_ROOT
    return cfg


def seg_cfg(prefix):
    require_data(VOC_ROOT)
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, 'cpu',
                 f'{prefix}_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py'))
    cfg.train_dataloader.dataset.data_root = VOC_ROOT
    return cfg


def test_counter_sees_the_reads_it_claims():
    x = torch.arange(6.)
    with count_host_reads() as counts:
        x.sum().item()
        bool(x.any())
        int(x[0])
        x[x > 2]
        x.nonzero()
        torch.unique(x)
        torch.bincount(x.long())
        torch.bincount(x.long(), minlength=8)  # fixed size: not counted
        x[1:3]  # not counted
    assert counts == {
        'item': 1,
        '__bool__': 1,
        '__int__': 1,
        '__getitem__': 1,
        'nonzero': 1,
        'unique': 1,
        'bincount': 1
    }


@pytest.mark.parametrize('task', ['classification', 'segmentation'])
def test_core_tuning_adds_at_most_one_host_read_per_step(task):
    make = cls_cfg if task == 'classification' else seg_cfg
    core = one_batch_step(make('coretune'))
    ce = one_batch_step(make('cetune'))
    added = sum(core.values()) - sum(ce.values())
    assert added <= 1, f'Core-tuning: {core}; CE-tuning: {ce}'
