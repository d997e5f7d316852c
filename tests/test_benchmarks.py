"""Fast paths of the benchmark scripts, run as a user runs them, so they
cannot rot (real configs, a few steps; the numbers are not asserted)."""
import json
import os.path as osp
import subprocess
import sys

from conftest import CONFIG_DIR, REPO_ROOT

BENCH = osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                 'benchmark_overhead.py')


def run_script(args, tmp_path):
    out = tmp_path / 'result.json'
    proc = subprocess.run([sys.executable, *args, '--out', str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Core/CE step time ratio' in proc.stdout
    return json.loads(out.read_text())


def test_overhead_benchmark_classification_fast_path(tmp_path):
    result = run_script([
        BENCH,
        osp.join(CONFIG_DIR,
                 'coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'),
        osp.join(CONFIG_DIR,
                 'cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'),
        '--synthetic', '32', '--batch-size', '8', '--steps', '2',
        '--warmup', '1'
    ], tmp_path)
    assert result['step_time_ratio'] > 0
    assert result['peak_memory_mib']['core'] > 0
    assert result['peak_memory_mib']['ce'] > 0


def test_overhead_benchmark_segmentation_fast_path(tmp_path):
    cpu = osp.join(CONFIG_DIR, 'cpu')
    result = run_script([
        BENCH,
        osp.join(cpu, 'coretune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py'),
        osp.join(cpu, 'cetune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py'),
        '--synthetic', '64', '--batch-size', '2', '--steps', '2',
        '--warmup', '1', '--no-memory'
    ], tmp_path)
    assert result['median_step_s']['core'] > 0


def test_effect_benchmark_fast_path(tmp_path):
    from conftest import CIFAR_ROOT, MOCO_CKPT, require_shared
    require_shared(CIFAR_ROOT)
    require_shared(MOCO_CKPT)
    script = osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                      'effect_benchmark.py')
    proc = subprocess.run([
        sys.executable, script, '--epochs', '1', '--batch-size', '256',
        '--seeds', '0', '--variants', 'CE-tuning', 'Core + COIN init (10%)',
        '--holdout', '500', '--work-dir', str(tmp_path), '--data-root',
        CIFAR_ROOT, '--checkpoint', MOCO_CKPT
    ], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '500 held-out train images' in proc.stdout
    results = json.loads((tmp_path / 'results.json').read_text())
    assert set(results) == {'CE-tuning | seed 0',
                            'Core + COIN init (10%) | seed 0'}
    for r in results.values():
        assert 0 <= r['accuracy/top1'] <= 100 and r['scatter/ratio'] > 0
    assert (tmp_path / 'table.md').exists()


def test_demo_fast_path(tmp_path):
    """The README's main job with 1 epoch per stage: MoCo pretraining,
    conversion, CE and Core fine-tuning, scatter, t-SNE picture."""
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'demo_digits.py'), '--work-dir',
        str(tmp_path), '--pretrain-epochs', '1', '--epochs', '1'
    ], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'matched: 120/120 backbone keys' in proc.stdout
    results = json.loads((tmp_path / 'results.json').read_text())
    assert set(results) == {'CE-tuning', 'Core-tuning'}
    assert (tmp_path / 'tsne.png').stat().st_size > 10000
    assert (tmp_path / 'pretrain' / 'epoch_1.pth').exists()
