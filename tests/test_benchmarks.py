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
