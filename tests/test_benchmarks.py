"""Fast paths of the benchmark scripts, run as a user runs them, so they
cannot rot (real configs, a few steps; the numbers are not asserted)."""
import json
import os.path as osp
import subprocess
import sys

from conftest import CONFIG_DIR, REPO_ROOT, load_tool

BENCH = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'benchmark_overhead.py')


def run_script(args, tmp_path):
    out = tmp_path / 'result.json'
    proc = subprocess.run([sys.executable, *args, '--out',
                           str(out)],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Core/CE step time ratio' in proc.stdout
    return json.loads(out.read_text())


def test_overhead_benchmark_classification_fast_path(tmp_path):
    result = run_script([
        BENCH,
        osp.join(
            CONFIG_DIR,
            'coretune/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'),
        osp.join(
            CONFIG_DIR,
            'coretune/cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'),
        '--synthetic', '32', '--batch-size', '8', '--steps', '2', '--warmup',
        '1'
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
        '--synthetic', '64', '--batch-size', '2', '--steps', '2', '--warmup',
        '1', '--no-memory'
    ], tmp_path)
    assert result['median_step_s']['core'] > 0


def test_effect_benchmark_protocol_fast_path(tmp_path):
    """The whole protocol with 1-epoch runs: selection on held-out training
    images (never the test split), final runs on the full training split
    read on the test split, report with paired differences, curves."""
    from conftest import CIFAR_ROOT, MOCO_CKPT, require_shared
    from mmengine.config import Config
    require_shared(CIFAR_ROOT)
    require_shared(MOCO_CKPT)
    script = osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                      'effect_benchmark.py')
    proc = subprocess.run([
        sys.executable, script, '--lrs', '0.05', '0.1', '--epochs-grid', '1',
        '--batch-size', '256', '--seeds', '0', '--variants', 'CE-tuning',
        'Core (official)', '--holdout-every', '10', '--work-dir',
        str(tmp_path), '--data-root', CIFAR_ROOT, '--checkpoint', MOCO_CKPT
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Selection on 500 held-out training images' in proc.stdout
    selection = json.loads((tmp_path / 'selection.json').read_text())
    assert selection['heldout_images'] == 500
    assert selection['train_images'] == 4500
    assert len(selection['grid']) == 4  # 2 methods x 2 lrs x 1 epoch count
    for method in ('CE-tuning', 'Core-tuning'):
        rows = [r for r in selection['grid'] if r['method'] == method]
        best = max(rows, key=lambda r: (r['heldout_top1'], -r['lr']))
        assert selection['chosen'][method]['lr'] == best['lr']
    # no selection run reads the test split; its held-out images are not
    # trained on
    for cfg_path in (tmp_path / 'select').glob('*/config.py'):
        cfg = Config.fromfile(str(cfg_path))
        assert cfg.val_dataloader.dataset.data_prefix == 'train'
        assert cfg.test_dataloader.dataset.data_prefix == 'train'
        held = set(cfg.val_dataloader.dataset.indices)
        trained = set(cfg.train_dataloader.dataset.indices)
        assert len(held) == 500 and not held & trained
    finals = sorted((tmp_path / 'final').glob('*/config.py'))
    assert len(finals) == 2
    for cfg_path in finals:
        cfg = Config.fromfile(str(cfg_path))
        assert cfg.val_dataloader.dataset.data_prefix == 'test'
        assert 'indices' not in cfg.train_dataloader.dataset
    official = Config.fromfile(
        str([p for p in finals if 'official' in str(p)][0]))
    assert official.model.head.mixup.hard_positive == 'anchor'
    assert official.model.head.mixup.official is True
    report = (tmp_path / 'report.md').read_text()
    assert '| Core (official) |' in report and 'paired diff' in report
    curves = load_tool('analysis_tools/plot_learning_curves.py')
    out = tmp_path / 'curves.png'
    curves.main([str(tmp_path), '--out', str(out)])
    assert out.stat().st_size > 10000


def run_demo(work_dir, *extra):
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'demo_digits.py'), '--work-dir',
        str(work_dir), '--pretrain-epochs', '1', '--epochs', '2',
        '--val-interval', '1', *extra
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_demo_fast_path_is_reproducible(tmp_path):
    """The README's main job with short stages: MoCo pretraining,
    conversion, CE and Core fine-tuning with learning curves, scatter,
    t-SNE; run twice, it prints the same table."""
    proc = run_demo(tmp_path / 'a')
    assert 'matched: 120/120 backbone keys' in proc.stdout
    results = json.loads((tmp_path / 'a' / 'results.json').read_text())
    assert set(results) == {'CE-tuning', 'Core-tuning'}
    for r in results.values():
        assert [c['epoch'] for c in r['curve']] == [1, 2]
        assert r['epochs'] == 2
    assert (tmp_path / 'a' / 'tsne.png').stat().st_size > 10000
    assert (tmp_path / 'a' / 'curves.png').stat().st_size > 10000
    table = (tmp_path / 'a' / 'table.txt').read_text()
    assert 'not selected' in table and table in proc.stdout
    # the same command again (without the t-SNE stage, which does not
    # touch the numbers): the same table, digit for digit
    run_demo(tmp_path / 'b', '--no-tsne')
    assert (tmp_path / 'b' / 'table.txt').read_text() == table


def test_demo_schedule_is_the_digits_selection():
    """The demo's default schedule is what the selection protocol chose on
    held-out training digits (the committed selection.json), and the
    README's table carries those schedules."""
    demo = load_tool('demo_digits.py')
    with open(demo.SELECTION) as f:
        selection = json.load(f)
    assert selection['dataset'] == 'digits'
    assert selection['heldout_images'] > 0
    check = load_tool('check_readme_demo.py')
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        shown = check.readme_table(f.read())
    for method, chosen in selection['chosen'].items():
        row = [ln for ln in shown if ln.startswith(method)]
        assert len(row) == 1, shown
        assert row[0].split()[1:3] == [
            str(chosen['lr']), str(chosen['epochs'])
        ]


def test_readme_check_reports_a_drift(tmp_path):
    check = load_tool('check_readme_demo.py')
    readme = tmp_path / 'README.md'
    readme.write_text(f'x\n{check.START}\n```\nA 1\nB 2\n```\n'
                      f'{check.END}\n')
    table = tmp_path / 'table.txt'
    table.write_text('A 1\nB 2\n')
    assert check.main(['--readme', str(readme), '--table', str(table)]) == 0
    table.write_text('A 1\nB 3\n')
    assert check.main(['--readme', str(readme), '--table', str(table)]) == 1
