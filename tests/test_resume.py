"""Resume that loses nothing: a training process killed with SIGKILL and
restarted with --resume repeats the uninterrupted run's losses, with the
data loaded (and randomly augmented) by 2 worker processes."""
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
from conftest import CIFAR_ROOT, CONFIG_DIR, MOCO_CKPT, REPO_ROOT, require_data

CFG = osp.join(CONFIG_DIR, 'cpu',
               'coretune_resnet18w16-mocov2_1xb32-20i_cifar10-32.py')
MAX_ITERS = 10


def train_cmd(work_dir, *extra):
    return [
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), CFG, '--work-dir',
        str(work_dir), *extra, '--cfg-options',
        f'train_dataloader.dataset.data_root={CIFAR_ROOT}',
        f'val_dataloader.dataset.data_root={CIFAR_ROOT}',
        f'model.backbone.init_cfg.checkpoint={MOCO_CKPT}',
        f'train_cfg.max_iters={MAX_ITERS}', 'train_cfg.val_interval=4',
        f'param_scheduler.T_max={MAX_ITERS}',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'randomness.deterministic=True', 'randomness.seed=3',
        'train_dataloader.num_workers=2',
        'train_dataloader.persistent_workers=True'
    ]


def logged_losses(work_dir):
    """One {iteration: (loss, loss_con)} per run in work_dir, oldest first."""
    runs = []
    pattern = osp.join(str(work_dir), '*', 'vis_data', 'scalars.json')
    for path in sorted(glob.glob(pattern)):
        losses = {}
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec:
                    losses[rec['step']] = (rec['loss'], rec['loss_con'])
        runs.append(losses)
    return runs


def test_sigkill_then_resume_repeats_the_uninterrupted_losses(tmp_path):
    require_data(CIFAR_ROOT)
    require_data(MOCO_CKPT)
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')

    ref_dir = tmp_path / 'uninterrupted'
    subprocess.run(
        train_cmd(ref_dir),
        env=env,
        check=True,
        capture_output=True,
        timeout=600)
    reference, = logged_losses(ref_dir)
    assert sorted(reference) == list(range(1, MAX_ITERS + 1))

    run_dir = tmp_path / 'killed'
    proc = subprocess.Popen(
        train_cmd(run_dir),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    last = run_dir / 'last_checkpoint'  # written once iter_4.pth is saved
    while not (last.exists() and last.read_text().endswith('iter_4.pth')):
        assert proc.poll() is None, 'training ended before the kill'
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    killed, = logged_losses(run_dir)
    assert max(killed) < MAX_ITERS, 'the kill came too late'

    resumed = subprocess.run(
        train_cmd(run_dir, '--resume'),
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    with open(run_dir / 'last_checkpoint') as f:
        assert f.read().strip().endswith(f'iter_{MAX_ITERS}.pth')
    _, after = logged_losses(run_dir)
    resumed_from = min(after) - 1  # the last checkpoint before the kill
    assert 4 <= resumed_from <= max(killed) and resumed_from % 2 == 0
    assert sorted(after) == list(range(resumed_from + 1, MAX_ITERS + 1))
    for it in after:
        loss, loss_con = after[it]
        assert loss == pytest.approx(reference[it][0], abs=1e-6), it
        assert loss_con == pytest.approx(reference[it][1], abs=1e-6), it
