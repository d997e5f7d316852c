"""Global-batch contrast under real DDP (2 CPU processes, gloo)."""
import glob
import os
import os.path as osp
import socket
import subprocess
import sys
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from conftest import (CIFAR_ROOT, CONFIG_DIR, MOCO_CKPT, REPO_ROOT, VOC_ROOT,
                      one_hot, require_shared)

from coretune_mm import CoreLoss, focal_supcon_loss

WORLD = 2


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_workers(fn, *args, timeout=120):
    """Spawn WORLD ranks of fn(rank, port, *args); fail (not hang) on a
    timeout -- a rank that skips a collective shows up here."""
    port = free_port()
    ctx = mp.spawn(fn, args=(port, *args), nprocs=WORLD, join=False)
    deadline = time.time() + timeout
    while not ctx.join(timeout=1):
        if time.time() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f'distributed workers did not finish in {timeout} s')


def init(rank, port):
    import faulthandler
    faulthandler.dump_traceback_later(90, exit=True)  # a hang shows where
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=WORLD)


class TinyCore(nn.Module):

    def __init__(self, d=6, num_classes=4):
        super().__init__()
        self.cls = nn.Linear(d, num_classes)
        self.proj = nn.Linear(d, 5)

    def forward(self, x):
        return self.cls(x), F.normalize(self.proj(x), dim=1)


def make_case(case):
    """16 rows, 8 per rank: features and (partly soft) targets."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 6, generator=g)
    if case == 'mixed':
        y = one_hot(torch.randint(0, 4, (16, ), generator=g), 4)
    elif case == 'positives-only-across-ranks':
        # every class once per rank: no rank has a positive of its own
        y = one_hot(torch.arange(8).repeat(2), 8)
    else:  # 'no-positives': all 16 rows of different classes
        return x, one_hot(torch.arange(16), 16)
    # mixed (soft, unique) rows, as HardMixup makes them
    y[3] = 0.3 * y[3] + 0.7 * y[5]
    y[12] = 0.4 * y[12] + 0.6 * y[1]
    return x, y


def ddp_worker(rank, port, case, init_state, out_dir):
    init(rank, port)
    x, y = make_case(case)
    model = TinyCore(num_classes=y.shape[1])
    model.load_state_dict(init_state)
    ddp = nn.parallel.DistributedDataParallel(model)
    part = slice(rank * 8, (rank + 1) * 8)
    logits, z = ddp(x[part])
    losses = CoreLoss(eta=0.5, temperature=0.2)(logits, z, y[part])
    sum(losses.values()).backward()
    for v in losses.values():
        dist.all_reduce(v.detach_(), op=dist.ReduceOp.SUM)
    torch.save(
        dict(
            keys=sorted(losses),
            loss={k: v / WORLD for k, v in losses.items()},
            grads={n: p.grad.clone()
                   for n, p in model.named_parameters()}),
        os.path.join(out_dir, f'rank{rank}.pt'))
    # free DDP (its reducer holds the process group) before tearing down
    dist.barrier()
    del ddp
    dist.destroy_process_group()


@pytest.mark.parametrize(
    'case', ['mixed', 'positives-only-across-ranks', 'no-positives'])
def test_ddp_matches_one_process_on_concatenated_batch(case, tmp_path):
    x, y = make_case(case)
    torch.manual_seed(0)
    model = TinyCore(num_classes=y.shape[1])
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    logits, z = model(x)
    ref = CoreLoss(eta=0.5, temperature=0.2)(logits, z, y)
    sum(ref.values()).backward()
    ref_grads = {n: p.grad for n, p in model.named_parameters()}

    run_workers(ddp_worker, case, init_state, str(tmp_path))
    for rank in range(WORLD):
        out = torch.load(tmp_path / f'rank{rank}.pt', weights_only=False)
        assert out['keys'] == ['loss_ce_mix', 'loss_con']
        for k, v in ref.items():
            assert out['loss'][k].item() == pytest.approx(
                v.item(), abs=1e-5), k
        for n, g in ref_grads.items():
            torch.testing.assert_close(
                out['grads'][n], g, atol=1e-5, rtol=1e-5, msg=n)
    if case == 'no-positives':
        assert ref['loss_con'].item() == 0.0


def uneven_worker(rank, port, out_dir):
    """Different row counts per rank; raw tensors (no DDP averaging)."""
    init(rank, port)
    g = torch.Generator().manual_seed(1)
    z = F.normalize(torch.randn(11, 4, generator=g), dim=1)
    labels = torch.tensor([0, 1, 0, 2, 1, 1, 3, 0, 2, 2, 3])
    part = slice(0, 7) if rank == 0 else slice(7, 11)
    mine = z[part].clone().requires_grad_()
    loss = focal_supcon_loss(
        mine, one_hot(labels[part], 4), temperature=0.3, gamma=2.0,
        normalizer='supcon', gather_distributed=True)
    loss.backward()
    torch.save(dict(loss=loss.detach(), grad=mine.grad),
               os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


def test_uneven_rank_sizes_gradients_reach_own_rows(tmp_path):
    g = torch.Generator().manual_seed(1)
    z = F.normalize(torch.randn(11, 4, generator=g), dim=1).requires_grad_()
    labels = torch.tensor([0, 1, 0, 2, 1, 1, 3, 0, 2, 2, 3])
    ref = focal_supcon_loss(z, one_hot(labels, 4), temperature=0.3,
                            gamma=2.0, normalizer='supcon')
    ref.backward()
    run_workers(uneven_worker, str(tmp_path))
    outs = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD)]
    mean = sum(o['loss'] for o in outs) / WORLD
    assert mean.item() == pytest.approx(ref.item(), abs=1e-6)
    # the raw gradient of each rank's rows is WORLD x the reference one
    # (DDP's averaging divides it back)
    torch.testing.assert_close(outs[0]['grad'] / WORLD, z.grad[:7])
    torch.testing.assert_close(outs[1]['grad'] / WORLD, z.grad[7:])


def test_gather_is_off_in_a_single_process():
    z = F.normalize(torch.randn(6, 3), dim=1)
    y = one_hot([0, 0, 1, 1, 2, 2], 3)
    assert focal_supcon_loss(z, y, gather_distributed=True).item() == \
        pytest.approx(focal_supcon_loss(z, y).item())


# --------------------------------------------------------------------------
# Real 2-process runs launched through tools/dist_train.sh / dist_test.sh


def launch(script, *args):
    env = dict(
        os.environ, PYTHON=sys.executable, PORT=str(free_port()),
        OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', script),
                           *args],
                          cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def test_dist_train_and_test_classification(tmp_path):
    require_shared(CIFAR_ROOT)
    require_shared(MOCO_CKPT)
    cfg = osp.join(CONFIG_DIR, 'cpu',
                   'coretune_resnet18w16-mocov2_1xb32-20i_cifar10-32.py')
    data = [
        f'train_dataloader.dataset.data_root={CIFAR_ROOT}',
        f'val_dataloader.dataset.data_root={CIFAR_ROOT}',
        f'test_dataloader.dataset.data_root={CIFAR_ROOT}',
        f'model.backbone.init_cfg.checkpoint={MOCO_CKPT}'
    ]
    work_dir = tmp_path / 'train'
    launch('dist_train.sh', cfg, str(WORLD), '--work-dir', str(work_dir),
           '--cfg-options', *data, 'train_cfg.max_iters=4',
           'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4',
           'default_hooks.logger.interval=1')
    log, = glob.glob(str(work_dir / '*' / '*.log'))
    text = open(log).read()
    assert 'Distributed training: True' in text
    assert 'accuracy/top1' in text and 'loss_con' in text
    out = launch('dist_test.sh', cfg, str(work_dir / 'iter_4.pth'),
                 str(WORLD), '--work-dir', str(tmp_path / 'test'),
                 '--cfg-options', *data)
    assert 'accuracy/top1' in out


def test_dist_train_segmentation_syncbn_config(tmp_path):
    require_shared(VOC_ROOT)
    # the full VOC config keeps its SyncBN: on CPU the launcher replaces it
    cfg = osp.join(CONFIG_DIR, 'cpu',
                   'coretune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py')
    out = launch(
        'dist_train.sh', cfg, str(WORLD), '--work-dir', str(tmp_path),
        '--cfg-options', f'train_dataloader.dataset.data_root={VOC_ROOT}',
        f'val_dataloader.dataset.data_root={VOC_ROOT}',
        'model.backbone.norm_cfg.type=SyncBN', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2')
    assert 'SyncBN norm config(s) replaced by BN' in out
    assert 'Distributed training: True' in out and 'mIoU' in out
