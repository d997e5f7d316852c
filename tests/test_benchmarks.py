"""Fast paths of the benchmark scripts, run as a user runs them, so they
cannot rot (real configs, a few steps; the numbers are not asserted)."""
import json
import os.path as osp
import subprocess
import sys

import pytest
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
    from conftest import CIFAR_ROOT, MOCO_CKPT, require_data
    from mmengine.config import Config
    require_data(CIFAR_ROOT)
    require_data(MOCO_CKPT)
    script = osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                      'effect_benchmark.py')
    proc = subprocess.run([
        sys.executable, script, '--lrs', '0.05', '0.1', '--epochs-grid', '1',
        '--batch-size', '256', '--seeds', '0', '--variants', 'CE-tuning',
        'Core (official)', 'selected', '--etas', '0.1', '10',
        '--holdout-every', '10', '--work-dir',
        str(tmp_path), '--data-root', CIFAR_ROOT, '--checkpoint', MOCO_CKPT
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Selection on 100 held-out training images' in proc.stdout
    selection = json.loads((tmp_path / 'selection.json').read_text())
    assert selection['heldout_images'] == 100
    assert selection['train_images'] == 900
    assert len(selection['grid']) == 4  # 2 methods x 2 lrs x 1 epoch count
    for method in ('CE-tuning', 'Core-tuning'):
        rows = [r for r in selection['grid'] if r['method'] == method]
        best = max(rows, key=lambda r: (r['heldout_top1'], -r['lr']))
        assert selection['chosen'][method]['lr'] == best['lr']
    # eta: chosen on the same held-out images at Core-tuning's schedule
    assert [r['eta'] for r in selection['eta_grid']] == [0.1, 10.0]
    best = max(
        selection['eta_grid'],
        key=lambda r: (r['heldout_top1'], r['eta'] == 0.1))
    assert selection['chosen_eta'] == best['eta']
    assert selection['eta_grid'][0]['key'] in [
        r['key'] for r in selection['grid']
    ]  # eta 0.1 is the schedule grid's run, not trained twice
    assert len(list((tmp_path / 'select').glob('*/config.py'))) == 5
    # no selection run reads the test split; its held-out images are not
    # trained on
    for cfg_path in (tmp_path / 'select').glob('*/config.py'):
        cfg = Config.fromfile(str(cfg_path))
        assert cfg.val_dataloader.dataset.data_prefix == 'train'
        assert cfg.test_dataloader.dataset.data_prefix == 'train'
        held = set(cfg.val_dataloader.dataset.indices)
        trained = set(cfg.train_dataloader.dataset.indices)
        assert len(held) == 100 and not held & trained
    finals = sorted((tmp_path / 'final').glob('*/config.py'))
    assert len(finals) == 3
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
    assert '95 % CI' in report and 'paired t-test p' in report
    assert 'Selected eta' in report
    curves = load_tool('analysis_tools/plot_learning_curves.py')
    out = tmp_path / 'curves.png'
    curves.main([str(tmp_path), '--out', str(out)])
    assert out.stat().st_size > 10000


def test_load_selection_names_what_is_missing(tmp_path):
    """A selection.json that lacks the protocol's keys, or a chosen schedule
    for one of the methods, is refused with the missing part named; a
    complete one comes back as written."""
    from coretune_mm.benchmark import effect as bench
    full = dict(
        dataset='cifar10',
        checkpoint='old.pth',
        heldout_images=100,
        grid=[],
        eta_grid=[],
        chosen_eta=10.0,
        chosen={m: dict(lr=0.1, epochs=80)
                for m in bench.METHODS})
    path = tmp_path / 'selection.json'

    def load(selection):
        path.write_text(json.dumps(selection))
        return bench.load_selection(str(path), 'cifar10')

    assert load(full) == full
    with pytest.raises(SystemExit, match='no chosen_eta, heldout_images'):
        load({
            k: v
            for k, v in full.items()
            if k not in ('chosen_eta', 'heldout_images')
        })
    method = bench.METHODS[-1]
    partial = dict(
        full, chosen={
            m: s
            for m, s in full['chosen'].items() if m != method
        })
    with pytest.raises(SystemExit, match=f'no chosen schedule for {method}'):
        load(partial)


def test_compare_backbones_effect_change(tmp_path, capsys):
    """Per backbone, Core-tuning's per-seed paired difference to CE-tuning;
    then the change of that effect between backbones (Welch): numbers a hand
    computation gives, and a backbone with one seed refused."""
    compare = load_tool('analysis_tools/compare_backbones.py')

    def results(ce, core):
        out = {}
        for seed, (a, b) in enumerate(zip(ce, core)):
            for variant, top1 in (('CE-tuning', a), ('Core-tuning', b)):
                out[f'final | {variant} | seed {seed}'] = dict(
                    curve=[dict(epoch=1, top1=top1)])
            out[f'select | CE-tuning | lr 0.1 | 1 ep | seed {seed}'] = dict(
                curve=[dict(epoch=1, top1=0.0)])
        return out

    weak = tmp_path / 'weak.json'
    strong = tmp_path / 'strong.json'
    # effects: weak -1, -2, -3 (mean -2); strong +1, +2, +3 (mean +2)
    weak.write_text(json.dumps(results([70, 70, 70], [69, 68, 67])))
    strong.write_text(json.dumps(results([75, 76, 77], [76, 78, 80])))
    out = tmp_path / 'table.md'
    compare.main([f'weak={weak}', f'strong={strong}', '--out', str(out)])
    text = capsys.readouterr().out
    assert out.read_text() == text
    assert '| weak | 70.00 ± 0.00 | Core-tuning | 68.00 ± 1.00 | ' \
        '-1.00, -2.00, -3.00 | -2.00 ± 1.00 |' in text
    assert '| strong | 76.00 ± 1.00 | Core-tuning | 78.00 ± 2.00 | ' \
        '+1.00, +2.00, +3.00 | +2.00 ± 1.00 |' in text
    # Welch: diff 4, se sqrt(1/3 + 1/3), df 4 -> t 4.899, p 0.008
    row = [r for r in text.splitlines() if r.startswith('| Core-tuning |')]
    assert row == ['| Core-tuning | strong | +4.00 | [+1.73, +6.27] | 0.008 |']
    one = tmp_path / 'one.json'
    one.write_text(json.dumps(results([70], [71])))
    with pytest.raises(SystemExit, match='has 1 seed paired with CE-tuning'):
        compare.main([f'weak={weak}', f'one={one}'])


def test_effect_benchmark_reuses_a_selection(tmp_path, cifar_root, moco_ckpt):
    """--selection: the final runs at the schedules and eta of an earlier
    selection.json (as when a new checkpoint is compared at a committed
    selection), no selection run trained, the report naming the file and
    the checkpoint it was made with; a selection of another dataset, or
    together with --fixed-schedule, is refused before anything trains."""
    from mmengine.config import Config
    script = osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                      'effect_benchmark.py')
    selection = dict(
        dataset='cifar10',
        checkpoint='work_dirs/old_backbone.pth',
        heldout_images=100,
        rule='highest final held-out top-1',
        grid=[
            dict(
                method='CE-tuning',
                lr=0.05,
                epochs=1,
                heldout_top1=50.0,
                key='a'),
            dict(
                method='Core-tuning',
                lr=0.02,
                epochs=2,
                heldout_top1=51.0,
                key='b')
        ],
        chosen={
            'CE-tuning': dict(lr=0.05, epochs=1, heldout_top1=50.0),
            'Core-tuning': dict(lr=0.02, epochs=2, heldout_top1=51.0)
        },
        eta_rule='highest',
        eta_grid=[
            dict(eta=0.1, heldout_top1=51.0, key='b'),
            dict(eta=10.0, heldout_top1=52.0, key='c')
        ],
        chosen_eta=10.0)
    path = tmp_path / 'selection.json'
    path.write_text(json.dumps(selection))
    work = tmp_path / 'work'

    def run(*extra):
        return subprocess.run([
            sys.executable, script, '--selection',
            str(path), '--batch-size', '256', '--seeds', '0', '--work-dir',
            str(work), '--data-root', cifar_root, '--checkpoint', moco_ckpt,
            *extra
        ],
                              cwd=REPO_ROOT,
                              capture_output=True,
                              text=True,
                              timeout=900)

    for extra, message in ((('--dataset', 'digits'),
                            'selected for --dataset cifar10, not digits'),
                           (('--fixed-schedule', '0.1', '1'),
                            'not with --fixed-schedule or --select-only'),
                           (('--select-only', ),
                            'not with --fixed-schedule or --select-only')):
        proc = run(*extra)
        assert proc.returncode != 0 and message in proc.stderr
        assert not work.exists()  # refused before anything is written
    proc = run('--variants', 'CE-tuning', 'selected')
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert not (work / 'select').exists()
    finals = {
        p.parent.name: Config.fromfile(str(p))
        for p in (work / 'final').glob('*/config.py')
    }
    assert len(finals) == 2
    ce = [c for n, c in finals.items() if 'CE' in n][0]
    core = [c for n, c in finals.items() if 'eta' in n][0]
    assert ce.optim_wrapper.optimizer.lr == 0.05
    assert ce.train_cfg.max_epochs == 1
    assert core.optim_wrapper.optimizer.lr == 0.02
    assert core.train_cfg.max_epochs == 2
    assert core.model.head.core_loss.eta == 10.0
    assert core.model.backbone.init_cfg.checkpoint == osp.abspath(moco_ckpt)
    report = (work / 'report.md').read_text()
    assert 'not selected again' in report
    assert 'work_dirs/old_backbone.pth' in report
    assert '| Core, eta=10 |' in report and 'Selected eta: 10' in report


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
    # CE, Core at the paper's eta and, if another, at the selected eta
    with open(
            osp.join(REPO_ROOT, 'docs', 'results', 'digits',
                     'selection.json')) as f:
        eta = json.load(f)['chosen_eta']
    expected = {'CE-tuning', 'Core-tuning'}
    if eta != 0.1:
        expected.add(f'Core, eta={eta:g}')
    assert set(results) == expected
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
    fixed, rows = check.parse_table(shown)
    for method, chosen in selection['chosen'].items():
        assert method in rows, shown
        assert f'{method} | lr {chosen["lr"]} | epochs {chosen["epochs"]}' \
            in fixed


FIXTURES = osp.join(REPO_ROOT, 'tests', 'fixtures', 'readme_check')


def readme_with(table_file, tmp_path):
    check = load_tool('check_readme_demo.py')
    with open(osp.join(FIXTURES, table_file)) as f:
        table = f.read()
    readme = tmp_path / 'README.md'
    readme.write_text(f'x\n{check.START}\n```\n{table}```\n{check.END}\ny\n')
    return str(readme)


def test_readme_check_accepts_other_cpus_and_rejects_a_stale_table(tmp_path):
    """The demo's table as printed on an AMD EPYC (the README of
    2026-11-25) and on an Intel Xeon with AVX-512 (2026-11-29), same code
    and seed: the check accepts either against the other, with the 3-seed
    spread of that code's effect benchmark; it rejects an older README's
    table and a changed schedule."""
    check = load_tool('check_readme_demo.py')
    spread = ['--spread', osp.join(FIXTURES, 'spread_3seeds.json')]
    tables = {
        name: osp.join(FIXTURES, f'table_{name}.txt')
        for name in ('amd_epyc', 'intel_xeon', 'stale')
    }
    for shown, printed in (('amd_epyc', 'intel_xeon'),
                           ('intel_xeon', 'amd_epyc'), ('amd_epyc',
                                                        'amd_epyc')):
        assert check.main([
            '--readme',
            readme_with(f'table_{shown}.txt', tmp_path), '--table',
            tables[printed], *spread
        ]) == 0, (shown, printed)
    readme = readme_with('table_amd_epyc.txt', tmp_path)
    assert check.main(
        ['--readme', readme, '--table', tables['stale'], *spread]) == 1
    # a drift in a line that does not depend on rounding: exact
    other = tmp_path / 'other.txt'
    with open(tables['intel_xeon']) as f:
        other.write_text(f.read().replace('0.1     40', '0.05    40', 1))
    assert check.main(['--readme', readme, '--table',
                       str(other), *spread]) == 1
    with open(tables['intel_xeon']) as f:
        other.write_text(f.read().replace('450 test', '449 test'))
    assert check.main(['--readme', readme, '--table',
                       str(other), *spread]) == 1
    # beyond the tolerance (3 * sqrt(2) * 0.59 * 4.41 = 11.0 for
    # Core-tuning over 3 seeds; 99.33 - 88.00 = 11.33)
    with open(tables['intel_xeon']) as f:
        other.write_text(f.read().replace('97.56', '88.00'))
    assert check.main(['--readme', readme, '--table',
                       str(other), *spread]) == 1
    # the tolerance is the measured one: the std over 3 seeds, raised to
    # its 95 % upper confidence bound (chi-square, 2 degrees of freedom)
    spreads = check.seed_spread(spread[1])
    assert spreads['Core-tuning']['seeds'] == 3
    assert 0.5 < spreads['Core-tuning']['top1'] < 0.7
    assert abs(spreads['Core-tuning']['upper'] - 4.41) < 0.01


def test_readme_check_floor_covers_the_measured_cpu_gap(tmp_path):
    """With many seeds a small seed std can give a tolerance below the
    measured AMD/Intel gap (Core-tuning 1.77 points): the floor keeps both
    tables accepted against each other whatever the committed spread, and a
    drift beyond it still fails."""
    check = load_tool('check_readme_demo.py')
    tight = tmp_path / 'tight.json'  # 10 seeds, std ~0.2: 1.4 without floor
    tight.write_text(
        json.dumps({
            f'final | {m} | seed {s}': {
                'curve': [{
                    'epoch': 40,
                    'top1': 98.0 + 0.2 * (s % 3),
                    'scatter_ratio': 0.1 + 0.004 * (s % 2)
                }]
            }
            for m in ('CE-tuning', 'Core-tuning')
            for s in range(10)
        }))
    spread = ['--spread', str(tight)]
    amd = readme_with('table_amd_epyc.txt', tmp_path)
    intel = osp.join(FIXTURES, 'table_intel_xeon.txt')
    assert check.main(['--readme', amd, '--table', intel, *spread]) == 0
    other = tmp_path / 'other.txt'
    with open(intel) as f:  # 99.33 (AMD) - 96.50 = 2.83 > 2.5
        other.write_text(f.read().replace('97.56', '96.50'))
    assert check.main(['--readme', amd, '--table', str(other), *spread]) == 1


def test_knn_votes_by_hand():
    """k nearest by cosine; majority vs similarity-weighted votes differ
    where one very close neighbour faces two farther ones."""
    knn = load_tool('analysis_tools/knn_eval.py')
    import torch
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [-1.0, 0.1]])
    labels = torch.tensor([0, 1, 1, 2])
    test = torch.tensor([[1.0, 0.75], [-1.0, 0.0]])
    majority, weighted = knn.knn_predict(
        train, labels, test, k=3, temperature=0.05)
    assert majority.tolist() == [1, 1]  # two votes of class 1 each time
    # [1, .75]: class 0 at cos .80 vs class 1 at cos .60/.67; [-1, 0]:
    # class 2 at cos .995 outweighs two class-1 votes at cos ~0
    assert weighted.tolist() == [0, 2]


def test_knn_eval_of_a_real_moco_checkpoint(tmp_path):
    """kNN top-1 of the test MoCo checkpoint's backbone (read through the
    converter from the full mmengine checkpoint) and of the untrained one,
    on the CIFAR-layout digits; the same numbers when run again."""
    from conftest import CIFAR_ROOT, MOCO_CKPT, require_data
    knn = load_tool('analysis_tools/knn_eval.py')
    cfg = osp.join(
        CONFIG_DIR,
        'coretune/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py')
    out = tmp_path / 'knn.json'
    moco = knn.main([
        cfg,
        require_data(MOCO_CKPT), '--data-root',
        require_data(CIFAR_ROOT), '--out',
        str(out)
    ])
    assert moco['weights'].startswith("prefix 'backbone.'")
    assert (moco['train_images'], moco['test_images']) == (1000, 2000)
    assert 10 < moco['majority'] <= 100 and 10 < moco['weighted'] <= 100
    assert json.loads(out.read_text())['majority'] == moco['majority']
    random = knn.evaluate(cfg, 'random', CIFAR_ROOT)
    assert random['weights'] == 'random init (seed 0)'
    assert random['majority'] != moco['majority']
    # several checkpoints: one result each, in order (a kNN-vs-epoch curve)
    both = knn.main([
        cfg, 'random', MOCO_CKPT, '--data-root', CIFAR_ROOT, '--out',
        str(out)
    ])
    assert [r['majority']
            for r in both] == [random['majority'], moco['majority']]
    assert [r['checkpoint']
            for r in json.loads(out.read_text())] == ['random', MOCO_CKPT]
    # the pretraining curve: the run's per-epoch loss beside these kNN
    curve = load_tool('analysis_tools/plot_pretrain_curve.py')
    png = tmp_path / 'curve.png'
    losses, by_epoch, text = curve.main(
        [osp.dirname(MOCO_CKPT), '--knn',
         str(out), '--out',
         str(png)])
    assert list(losses) == [1] and 0 < losses[1] < 20
    assert by_epoch == {
        0: (random['majority'], random['weighted']),
        1: (moco['majority'], moco['weighted'])
    }
    assert f"| 1 | {losses[1]:.3f} | {moco['majority']:.2f} |" in text
    assert png.stat().st_size > 1000


def test_pretrain_curve_reads_a_resumed_run_once(tmp_path):
    """A resumed run logs again the iterations after its last checkpoint:
    the later log wins, each iteration counts once."""
    curve = load_tool('analysis_tools/plot_pretrain_curve.py')
    logs = {
        '20261129_100000': [(1, 10, 5.0), (1, 20, 4.0), (2, 30, 3.0)],
        '20261129_120000': [(2, 30, 2.0), (2, 40, 1.0)],  # resumed at 20
    }
    for stamp, recs in logs.items():
        vis = tmp_path / stamp / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text(''.join(
            json.dumps(dict(loss=loss, epoch=e, iter=i, step=i)) + '\n'
            for e, i, loss in recs))
    assert curve.epoch_losses(str(tmp_path)) == {1: 4.5, 2: 1.5}
    knn = tmp_path / 'knn.json'
    knn.write_text(
        json.dumps([dict(checkpoint='x/last.pth', majority=1, weighted=1)]))
    with pytest.raises(ValueError, match='epoch of'):
        curve.knn_by_epoch(str(knn))


def test_label_budget_subsets_and_pools(cifar_root):
    """Pools: the last images of each class are held out and in no subset;
    a budget's subset has that many images of every class, is the same for
    a seed (a private generator: the global RNG untouched) and differs
    between seeds."""
    import random

    import numpy as np

    from coretune_mm.benchmark import label_budget as lb
    ranges = lb.class_ranges(cifar_root)
    assert [n for _, _, n in ranges] == [100] * 10
    by_class, held = lb.pools(ranges, 20)
    assert len(held) == 200 and all(len(p) == 80 for p in by_class)
    state = (random.getstate(), np.random.get_state()[1].copy())
    a = lb.budget_subset(by_class, 5, 0)
    assert (random.getstate(), ) == (state[0], )
    assert (np.random.get_state()[1] == state[1]).all()
    assert a == lb.budget_subset(by_class, 5, 0)
    assert a != lb.budget_subset(by_class, 5, 1)
    assert len(a) == 50 and not set(a) & set(held)
    for c, (_, start, n) in enumerate(ranges):
        assert sum(start <= i < start + n for i in a) == 5
    with pytest.raises(ValueError, match='more than the 80 images'):
        lb.budget_subset(by_class, 81, 0)
    with pytest.raises(ValueError, match='not more than --heldout-per-class'):
        lb.pools(ranges, 100)
    # an ablation at a selected eta keeps both edits
    from mmengine.config import Config
    name = lb.ablation_variant('Core w/o hard mixup', 10.0)
    assert name == 'Core w/o hard mixup @ eta=10'
    cfg = Config.fromfile(osp.join(REPO_ROOT, lb.VARIANTS[name][1]))
    lb.VARIANTS[name][2](cfg)
    assert cfg.model.head.core_loss.eta == 10.0
    assert cfg.model.head.mixup.enabled is False
    assert lb.ablation_variant('Core, eta=0 (mixed CE only)', 10.0) == \
        'Core, eta=0 (mixed CE only)'


def test_label_budget_benchmark_fast_path(tmp_path, cifar_root, moco_ckpt):
    """The tool as a user runs it, 1-epoch runs: selection on held-out
    training images of no subset (never the test split), final runs on each
    seed's subset read on the test split, the paired report, the
    contrast's share of the loss, the figure; a second call trains
    nothing."""
    from mmengine.config import Config
    script = osp.join(REPO_ROOT, 'tools', 'analysis_tools',
                      'label_budget_benchmark.py')
    cmd = [
        sys.executable, script, '--work-dir',
        str(tmp_path), '--data-root', cifar_root, '--checkpoint', moco_ckpt,
        '--budgets', '3', '--epochs-grid', '3:1', '--lrs', '0.1', '--etas',
        '0.1', '10', '--seeds', '0', '1', '--heldout-per-class', '20',
        '--batch-size', '10', '--jobs', '2'
    ]
    proc = subprocess.run(
        cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / 'summary.json').read_text())['3']
    selection = summary['selection']
    assert [r['eta'] for r in selection['eta_grid']] == [0.1, 10.0]
    fractions = [r['con_fraction'] for r in selection['eta_grid']]
    assert 0 < fractions[0] < fractions[1] < 1  # eta 10: a larger share
    held = None
    for cfg_path in (tmp_path / '3pc' / 'select').glob('*/config.py'):
        cfg = Config.fromfile(str(cfg_path))
        assert cfg.val_dataloader.dataset.data_prefix == 'train'
        held = set(cfg.val_dataloader.dataset.indices)
        trained = set(cfg.train_dataloader.dataset.indices)
        assert len(held) == 200 and len(trained) == 30
        assert not held & trained
    subsets = {}
    for cfg_path in (tmp_path / '3pc' / 'final').glob('*/config.py'):
        cfg = Config.fromfile(str(cfg_path))
        assert cfg.val_dataloader.dataset.data_prefix == 'test'
        trained = tuple(cfg.train_dataloader.dataset.indices)
        assert not held & set(trained)
        subsets.setdefault(cfg.randomness.seed, set()).add(trained)
    # one subset per seed, the same for every method
    assert sorted(subsets) == [0, 1]
    assert all(len(s) == 1 for s in subsets.values())
    assert subsets[0] != subsets[1]
    finals = summary['finals']
    assert finals['CE-tuning']['seeds'] == [0, 1]
    assert finals['Core-tuning']['paired']['n'] == 2
    report = (tmp_path / 'report.md').read_text()
    assert '| Core-tuning | 2 |' in report and '95 % CI' in report
    assert 'loss_con / loss' in report
    assert (tmp_path / 'label_budget.png').stat().st_size > 5000
    again = subprocess.run(
        cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and 'training' not in again.stdout
    # --report-only trains nothing, also for a budget with no runs yet
    other = [c if c != '3' else '4' for c in cmd[:cmd.index('--epochs-grid')]]
    report_only = subprocess.run(
        other + ['--epochs-grid', '4:1', '--report-only'] +
        cmd[cmd.index('--lrs'):],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900)
    assert report_only.returncode == 0, report_only.stderr[-2000:]
    assert '4/class: selection not finished' in report_only.stdout
    assert not (tmp_path / '4pc').exists()


def write_camvid_like(root, sizes=(('train', 6), ('val', 3), ('test', 3))):
    """A CamVid-layout set (img_dir/ann_dir per split, .jpg/.png, classes
    0-10 and 255 void): sky above, road below, a car box, a void strip."""
    import mmcv
    import numpy as np
    rng = np.random.default_rng(0)
    colours = {0: (200, 150, 90), 3: (90, 90, 90), 8: (40, 40, 200)}
    for split, n in sizes:
        for i in range(n):
            label = np.full((48, 64), 3, np.uint8)
            label[:20] = 0
            y, x = rng.integers(18, 36), rng.integers(0, 44)
            label[y:y + 10, x:x + 18] = 8
            label[:, :2] = 255
            img = np.zeros((48, 64, 3), np.uint8)
            for c, bgr in colours.items():
                img[label == c] = bgr
            img = np.clip(img + rng.integers(0, 30, img.shape), 0,
                          255).astype(np.uint8)
            mmcv.imwrite(img, osp.join(root, 'img_dir', split, f'{i}.jpg'))
            mmcv.imwrite(label, osp.join(root, 'ann_dir', split, f'{i}.png'))
    return root


def test_parse_per_class_reads_the_last_table():
    from coretune_mm.benchmark.segmentation import parse_per_class
    table = ('per class results:\n+------+-------+-------+\n'
             '| Class |  IoU  |  Acc  |\n+------+-------+-------+\n'
             '| sky | {} | 90.0 |\n| sign_symbol | nan | nan |\n'
             '+------+-------+-------+\n')
    log = ('12/04 - mmengine - INFO - ' + table.format('10.0') + 'later\n' +
           table.format('80.5'))
    got = parse_per_class(log)
    assert got['sky'] == 80.5 and got['sign_symbol'] != got['sign_symbol']
    with pytest.raises(RuntimeError, match='no per-class results'):
        parse_per_class('nothing here')


def test_seg_benchmark_fast_path(tmp_path, moco_ckpt):
    """The CamVid benchmark as a user runs it, 2-iteration runs on a
    CamVid-layout set made here: selection validated on the val split (the
    test split never read there), final runs tested once on the test split
    with per-class IoU, the paired report."""
    from mmengine.config import Config
    data = write_camvid_like(str(tmp_path / 'camvid'))
    script = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'seg_benchmark.py')
    work = tmp_path / 'work'
    proc = subprocess.run([
        sys.executable, script, '--work-dir',
        str(work), '--data-root', data, '--checkpoint', moco_ckpt, '--lrs',
        '0.05', '--iters-grid', '2', '--val-interval', '2', '--seeds', '0',
        '1', '--batch-size', '2', '--jobs', '2'
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    selects = list((work / 'select').glob('*'))
    assert len(selects) == 2
    for run in selects:
        cfg = Config.fromfile(str(run / 'config.py'))
        assert cfg.val_dataloader.dataset.data_prefix.img_path == \
            'img_dir/val'
        assert not (run / 'test.log').exists()
    finals = sorted((work / 'final').glob('*'))
    assert len(finals) == 4
    for run in finals:
        log = (run / 'test.log').read_text()
        assert 'per class results' in log
    summary = json.loads((work / 'summary.json').read_text())
    test = summary['finals']['final | Core-tuning | seed 1']
    assert set(test['per_class']) >= {'sky', 'road', 'car'}
    assert 0 <= test['mIoU'] <= 100
    report = (work / 'report.md').read_text()
    assert '| Core-tuning |' in report and '95 % CI' in report
    assert '| sky |' in report
