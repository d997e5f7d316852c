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
from conftest import (CIFAR_ROOT, CONFIG_DIR, MOCO_CKPT, NUM_CLASSES,
                      REPO_ROOT, VOC_ROOT, feature_pyramid, one_hot,
                      random_labels, require_data, seg_samples)

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


def leave():
    """End a worker: every rank waits for the others (results saved), then
    the process exits without tearing the process group down. On torch 2.1,
    gloo's destroy_process_group hung now and then, also after a barrier
    and with a FileStore (4 of 9 runs of this file failed, 3 of them seen
    hanging there; pytorch/pytorch#75097), and
    leaving the group to interpreter teardown can abort ("terminate called
    without an active exception"); the tools' own ending,
    coretune_mm.utils.finish_distributed, is tested by the dist_train /
    dist_test runs below."""
    dist.barrier()
    os._exit(0)


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
            loss={
                k: v / WORLD
                for k, v in losses.items()
            },
            grads={
                n: p.grad.clone()
                for n, p in model.named_parameters()
            }), os.path.join(out_dir, f'rank{rank}.pt'))
    # free DDP (its reducer holds the process group) before tearing down
    dist.barrier()
    del ddp
    leave()


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
        assert out['keys'] == ['con_unscaled', 'loss_ce_mix', 'loss_con']
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
        mine,
        one_hot(labels[part], 4),
        temperature=0.3,
        gamma=2.0,
        normalizer='supcon',
        gather_distributed=True)
    loss.backward()
    torch.save(
        dict(loss=loss.detach(), grad=mine.grad),
        os.path.join(out_dir, f'rank{rank}.pt'))
    leave()


def test_uneven_rank_sizes_gradients_reach_own_rows(tmp_path):
    g = torch.Generator().manual_seed(1)
    z = F.normalize(torch.randn(11, 4, generator=g), dim=1).requires_grad_()
    labels = torch.tensor([0, 1, 0, 2, 1, 1, 3, 0, 2, 2, 3])
    ref = focal_supcon_loss(
        z, one_hot(labels, 4), temperature=0.3, gamma=2.0, normalizer='supcon')
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
# Segmentation under DDP: a rank with one class, or with nothing to sample


def seg_head():
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='CoreContrastiveSegHead',
            wrapped_type='FCNHead',
            in_channels=64,
            in_index=3,
            channels=16,
            num_convs=1,
            num_classes=NUM_CLASSES,
            norm_cfg=dict(type='BN'),
            dropout_ratio=0.0,
            proj_channels=8,
            max_pixels=48,
            core_loss=dict(type='CoreLoss', eta=1.0, temperature=0.2)))
    return head.train()


def rank_labels(rank, case):
    if rank == 0:
        return random_labels(seed=1)
    return torch.full((2, 16, 16), 3 if case == 'one-class' else 255)


def seg_worker(rank, port, case, out_dir):
    init(rank, port)
    import coretune_mm  # noqa: F401
    head = seg_head()
    seen = {}

    def capture(module, args, kwargs, out):
        seen.update(
            proj=args[1].detach(), targets=args[2], counts=kwargs['counts'])

    head.core_loss.register_forward_hook(capture, with_kwargs=True)
    feats = feature_pyramid(seed=rank)
    losses = head.loss(feats, seg_samples(rank_labels(rank, case)), None)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    torch.save(
        dict(
            keys=sorted(losses),
            loss_con=losses['loss_con'].detach(),
            grad=feats[-1].grad,
            **seen), os.path.join(out_dir, f'rank{rank}.pt'))
    leave()


@pytest.mark.parametrize('case', ['one-class', 'all-ignored'])
def test_seg_ddp_contrast_is_the_one_process_contrast_of_valid_rows(
        case, tmp_path):
    """Rank 1 holds one class (its pixels are valid rows: the other rank's
    pixels are their negatives) or no valid pixel (a placeholder row that
    must not enter rank 0's contrast). Mean over ranks of ``loss_con`` ==
    one process's focal loss on the concatenated valid rows."""
    run_workers(seg_worker, case, str(tmp_path))
    outs = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD)]
    assert outs[0]['keys'] == outs[1]['keys'] == [
        'acc_seg', 'con_unscaled', 'loss_ce', 'loss_ce_mix', 'loss_con'
    ]
    counts = outs[0]['counts']
    assert outs[1]['counts'] == counts
    assert counts[0] == 3 * 48
    assert counts[1] == (3 * 48 if case == 'one-class' else 0)
    z = torch.cat([o['proj'][:n] for o, n in zip(outs, counts)])
    y = torch.cat([o['targets'][:n] for o, n in zip(outs, counts)])
    ref = focal_supcon_loss(z, y, temperature=0.2, positives='exact')
    mean = sum(o['loss_con'] for o in outs) / WORLD
    assert mean.item() == pytest.approx(ref.item(), abs=1e-5)
    assert ref.item() > 0
    if case == 'all-ignored':
        # the placeholder sends no gradient to rank 1's features
        assert outs[1]['grad'].abs().sum() == 0
    else:
        assert outs[1]['grad'].abs().sum() > 0


# --------------------------------------------------------------------------
# Non-finite features on one rank: one collective decision


def nonfinite_worker(rank, port, mode, out_dir):
    init(rank, port)
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    import coretune_mm  # noqa: F401
    head = MODELS.build(
        dict(
            type='CoreContrastiveClsHead',
            num_classes=4,
            in_channels=16,
            core_loss=dict(type='CoreLoss', nonfinite=mode)))
    h = torch.randn(8, 16, generator=torch.Generator().manual_seed(rank))
    if rank == 1:
        h[2, 5] = float('nan')
    samples = [DataSample().set_gt_label(i % 4) for i in range(8)]
    try:
        losses = head.loss((h.requires_grad_(), ), samples)
        sum(losses.values()).backward()
        result = dict(losses={k: v.item() for k, v in losses.items()})
    except ValueError as err:
        result = dict(error=str(err))
    torch.save(result, os.path.join(out_dir, f'rank{rank}.pt'))
    leave()


@pytest.mark.parametrize('mode', ['raise', 'skip'])
def test_nan_on_one_rank_is_decided_on_every_rank(mode, tmp_path):
    run_workers(nonfinite_worker, mode, str(tmp_path), timeout=60)
    outs = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD)]
    if mode == 'raise':
        assert outs[0] == outs[1]  # the same error on both ranks
        assert 'NaN or inf' in outs[0]['error']
        assert '(on rank 1 of 2)' in outs[0]['error']
    else:  # both ranks skip: non-finite losses for the loss scaler
        for out in outs:
            assert set(
                out['losses']) == {'loss_ce_mix', 'loss_con', 'con_unscaled'}
            assert all(v != v for v in out['losses'].values())


# --------------------------------------------------------------------------
# Real 2-process runs launched through tools/dist_train.sh / dist_test.sh


def launch(script, *args):
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', script), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def test_dist_train_and_test_classification(tmp_path):
    require_data(CIFAR_ROOT)
    require_data(MOCO_CKPT)
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
    out = launch('dist_test.sh', cfg, str(work_dir / 'iter_4.pth'), str(WORLD),
                 '--work-dir', str(tmp_path / 'test'), '--cfg-options', *data)
    assert 'accuracy/top1' in out


def test_dist_train_segmentation_syncbn_config(tmp_path):
    require_data(VOC_ROOT)
    # the full VOC config keeps its SyncBN: on CPU the launcher replaces it
    cfg = osp.join(CONFIG_DIR, 'cpu',
                   'coretune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py')
    out = launch('dist_train.sh', cfg, str(WORLD), '--work-dir', str(tmp_path),
                 '--cfg-options',
                 f'train_dataloader.dataset.data_root={VOC_ROOT}',
                 f'val_dataloader.dataset.data_root={VOC_ROOT}',
                 'model.backbone.norm_cfg.type=SyncBN',
                 'train_cfg.max_iters=2', 'train_cfg.val_interval=2')
    assert 'SyncBN norm config(s) replaced by BN' in out
    assert 'Distributed training: True' in out and 'mIoU' in out


def train_losses(work_dir):
    """{iteration: loss} of the run logged in work_dir."""
    import json
    path, = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))
    with open(path) as f:
        return {
            r['step']: r['loss']
            for r in map(json.loads, f) if 'loss' in r
        }


def test_two_nodes_of_one_process_equal_one_node_of_two(tmp_path):
    """tools/dist_train.sh's multi-node variables: NNODES=2, NODE_RANK 0 and
    1, one process each, on localhost; the run equals a 2-process run."""
    require_data(CIFAR_ROOT)
    require_data(MOCO_CKPT)
    cfg = osp.join(CONFIG_DIR, 'cpu',
                   'coretune_resnet18w16-mocov2_1xb32-20i_cifar10-32.py')
    opts = [
        '--cfg-options', f'train_dataloader.dataset.data_root={CIFAR_ROOT}',
        f'val_dataloader.dataset.data_root={CIFAR_ROOT}',
        f'model.backbone.init_cfg.checkpoint={MOCO_CKPT}',
        'train_cfg.max_iters=3', 'train_cfg.val_interval=100',
        'param_scheduler.T_max=3', 'default_hooks.checkpoint.interval=100',
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'randomness.deterministic=True', 'randomness.seed=5'
    ]
    launch('dist_train.sh', cfg, str(WORLD), '--work-dir',
           str(tmp_path / 'one_node'), *opts)

    port = str(free_port())
    procs = []
    for node in range(2):
        env = dict(
            os.environ,
            PYTHON=sys.executable,
            PORT=port,
            NNODES='2',
            NODE_RANK=str(node),
            MASTER_ADDR='127.0.0.1',
            OMP_NUM_THREADS='1')
        procs.append(
            subprocess.Popen([
                'bash',
                osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), cfg, '1',
                '--work-dir',
                str(tmp_path / f'node{node}'), *opts
            ],
                             cwd=REPO_ROOT,
                             env=env,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT,
                             text=True))
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    assert 'Distributed training: True' in outs[0]
    two_nodes = train_losses(tmp_path / 'node0')
    one_node = train_losses(tmp_path / 'one_node')
    assert sorted(two_nodes) == sorted(one_node) == [1, 2, 3]
    for it, loss in one_node.items():
        assert two_nodes[it] == pytest.approx(loss, abs=1e-6), it


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_slurm_scripts_call_srun_in_the_openmmlab_form(script, tmp_path):
    """No Slurm here (and mmengine's slurm launcher needs GPUs): a stand-in
    ``srun`` records the command the script builds."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    record = tmp_path / 'srun_args'
    (bin_dir / 'srun'
     ).write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {record}\n')
    (bin_dir / 'srun').chmod(0o755)
    env = dict(
        os.environ,
        PATH=f'{bin_dir}:{os.environ["PATH"]}',
        GPUS='16',
        GPUS_PER_NODE='8',
        SRUN_ARGS='--quotatype=auto')
    fourth = 'WORK' if script == 'slurm_train.sh' else 'CKPT.pth'
    subprocess.run([
        'bash',
        osp.join(REPO_ROOT, 'tools', script), 'PART', 'job', 'CFG.py', fourth,
        '--cfg-options', 'a=1'
    ],
                   env=env,
                   check=True,
                   capture_output=True)
    args = record.read_text().split('\n')
    assert args[:8] == [
        '-p', 'PART', '--job-name=job', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1'
    ]
    assert args[8] == '--quotatype=auto'
    tool = 'train.py' if script == 'slurm_train.sh' else 'test.py'
    assert args[10] == '-u' and args[11].endswith(f'tools/{tool}')
    assert args[12] == 'CFG.py'
    assert '--launcher=slurm' in args
    assert (f'--work-dir={fourth}' if tool == 'train.py' else fourth) in args
    assert args[-3:-1] == ['--cfg-options', 'a=1']


# --------------------------------------------------------------------------
# The public loss called directly under DDP, and the draws of every rank


def direct_call_worker(rank, port, fn, out_dir):
    init(rank, port)
    g = torch.Generator().manual_seed(rank)
    z = F.normalize(torch.randn(8, 5, generator=g), dim=1).requires_grad_()
    logits = torch.randn(8, 4, generator=g, requires_grad=True)
    y = one_hot(torch.arange(8) % 4, 4)
    if rank == 1:
        z = z.detach().clone()
        z[2, 1] = float('nan')
        z.requires_grad_()
    try:
        if fn == 'CoreLoss':
            losses = CoreLoss(nonfinite='raise')(logits, z, y)
            out = sum(losses.values())
        else:
            out = focal_supcon_loss(z, y, gather_distributed=True)
        out.backward()
        result = dict(loss=out.item())
    except ValueError as err:
        result = dict(error=str(err))
    torch.save(result, os.path.join(out_dir, f'rank{rank}.pt'))
    leave()


@pytest.mark.parametrize('fn', ['CoreLoss', 'focal_supcon_loss'])
def test_public_loss_called_directly_decides_on_every_rank(fn, tmp_path):
    """NaN features on rank 1 only, the loss called directly (no head, no
    plan): both ranks end in time with the same error, naming the rank."""
    run_workers(direct_call_worker, fn, str(tmp_path), timeout=60)
    outs = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD)]
    assert outs[0] == outs[1]
    assert 'NaN or inf' in outs[0]['error']
    assert '(on rank 1 of 2)' in outs[0]['error']


def draws_worker(rank, port, out_dir):
    init(rank, port)
    from mmengine.runner import set_random_seed

    from coretune_mm import HardMixup

    # mmengine's default seeding: the same seed on every rank (python,
    # numpy and torch alike)
    set_random_seed(0)
    g = torch.Generator().manual_seed(0)  # and the same inputs
    h = torch.randn(16, 6, generator=g)
    y = one_hot(torch.arange(16) % 4, 4)
    rows, targets = HardMixup()(h, y)
    torch.save(
        dict(rows=rows, targets=targets),
        os.path.join(out_dir, f'rank{rank}.pt'))
    leave()


def test_ranks_seeded_alike_draw_differently(tmp_path):
    """Equal seeds and equal inputs on 2 ranks: the clean rows agree, the
    mixed rows (partners, coefficients) do not -- the global contrast does
    not see one set of draws copied on every rank."""
    run_workers(draws_worker, str(tmp_path), timeout=60)
    a, b = [torch.load(tmp_path / f'rank{r}.pt') for r in range(WORLD)]
    assert torch.equal(a['rows'][:16], b['rows'][:16])
    for part in (slice(16, 32), slice(32, 48)):
        assert not torch.equal(a['rows'][part], b['rows'][part])
