"""Effect benchmark: CE-tuning vs Core-tuning (and ablations) at schedules
chosen on held-out *training* images, several seeds, one reading of the test
split per run.

The protocol (the default):

1. **Selection.** Every ``--holdout-every``-th training image is held out;
   for each method (CE-tuning, Core-tuning) a grid of learning rates x
   epoch counts (each a separate cosine run, seed ``--select-seed``) is
   trained on the rest and validated on the held-out images every
   ``--val-interval`` epochs. Each method keeps the (lr, epochs) of its
   best final held-out top-1 (ties: fewer epochs, then the smaller lr).
   Written to ``selection.json``. The test split is never read here.
2. **Final runs.** Every variant is trained on the full training split with
   its method's chosen schedule (ablations of Core-tuning use Core-tuning's)
   for each seed and validated on the test split every ``--val-interval``
   epochs, for the learning curves; the reported number is the last one.
   ``report.md``: mean +- std over seeds and the per-seed paired difference
   to CE-tuning.

    # the shared CIFAR-10 subset and MoCo v2 checkpoint of ../shared
    python tools/analysis_tools/effect_benchmark.py --work-dir work_dirs/effect
    # the demo's digits (after `make demo` made the data and the backbone)
    python tools/analysis_tools/effect_benchmark.py --dataset digits \\
        --work-dir work_dirs/effect_digits

``--fixed-schedule LR EPOCHS`` skips the selection (a fast path, or an
explicitly under-trained comparison: the report says so).
``--selection SELECTION_JSON`` skips it too, taking the schedules and eta an
earlier run chose (e.g. ``docs/results/cifar10/selection.json``, to rerun the
final runs from another checkpoint; the report names the file and the
checkpoint the selection was made with). Each run is
``tools/train.py`` on a dumped config in a fresh process; finished runs are
kept in ``results.json`` and skipped when the command is run again.
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHARED = osp.join(osp.dirname(REPO_ROOT), 'shared')
CE_CFG = 'configs/coretune/cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'
CORE_CFG = 'configs/coretune/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'  # noqa: E501
METHODS = ('CE-tuning', 'Core-tuning')


def _mixup(**kw):
    return lambda cfg: cfg.model.head.mixup.update(kw)


def _loss(**kw):
    return lambda cfg: cfg.model.head.core_loss.update(kw)


# name -> (method whose schedule it uses, config, edit of the loaded config)
VARIANTS = {
    'CE-tuning': ('CE-tuning', CE_CFG, lambda cfg: None),
    'Core-tuning': ('Core-tuning', CORE_CFG, lambda cfg: None),
    # the official script's choices together: random partner of any class,
    # detached clean rows, the anchor as hard positive (its argmin), clamp
    'Core (official)':
    ('Core-tuning', CORE_CFG,
     _mixup(official=True, hard_positive='anchor', neg_lambda='clamp')),
    'Core w/o hard mixup': ('Core-tuning', CORE_CFG, _mixup(enabled=False)),
    'Core, gamma=0': ('Core-tuning', CORE_CFG, _loss(gamma=0.0)),
    'Core, neg_lambda=rescale':
    ('Core-tuning', CORE_CFG, _mixup(neg_lambda='rescale')),
    'Core, eta=0 (mixed CE only)': ('Core-tuning', CORE_CFG, _loss(eta=0.0)),
    'Core, supcon normaliser': ('Core-tuning', CORE_CFG,
                                _loss(normalizer='supcon')),
    'Core + COIN init (10%)':
    ('Core-tuning', CORE_CFG, lambda cfg: cfg.custom_hooks.append(
        dict(type='ContrastiveInitHook', ratio=0.1))),
}
PAPER_ETA = 0.1  # CoreLoss's default, the paper's (official README) weight


def eta_variant(eta):
    """The variant name of Core-tuning at contrastive weight ``eta``
    (``'Core-tuning'`` at the paper's), registered in VARIANTS on first
    use."""
    eta = float(eta)
    if eta == PAPER_ETA:
        return 'Core-tuning'
    name = f'Core, eta={eta:g}'
    VARIANTS.setdefault(name, ('Core-tuning', CORE_CFG, _loss(eta=eta)))
    return name


for _eta in (1.0, 10.0):  # 10: the official script's argparse default
    eta_variant(_eta)

# the final runs: CE, Core at the paper's eta, Core at the selected eta
DEFAULT_VARIANTS = ['CE-tuning', 'Core-tuning', 'selected']

# dataset presets: folder-per-class ``train/`` and ``test/`` under data_root
DATASETS = {
    'cifar10':
    dict(
        data_root=osp.join(SHARED, 'data', 'cifar10-jpg'),
        checkpoint=osp.join(SHARED, 'checkpoints',
                            'mocov2_resnet18w16-cifar10_8e.pth'),
        batch_size=128,
        preprocessor=None),
    # the demo's sklearn digits and its MoCo v2 backbone (tools/demo_digits)
    'digits':
    dict(
        data_root=osp.join(REPO_ROOT, 'work_dirs', 'demo_digits', 'data',
                           'digits32'),
        checkpoint=osp.join(REPO_ROOT, 'work_dirs', 'demo_digits',
                            'backbone.pth'),
        batch_size=64,
        preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False)),
}


def count_images(data_root, split='train'):
    n = sum(len(files) for _, _, files in os.walk(osp.join(data_root, split)))
    if n == 0:
        raise FileNotFoundError(
            f'no images under {osp.join(data_root, split)} (folder-per-class '
            'layout expected)')
    return n


def holdout_indices(num_train, every):
    """(train, held-out) indices of the training split: every ``every``-th
    image (in mmpretrain's sorted, class-grouped order) is held out, so the
    held-out set is stratified."""
    if every < 2:
        raise ValueError(f'--holdout-every must be >= 2, got {every}')
    held = list(range(0, num_train, every))
    train = [i for i in range(num_train) if i % every]
    return train, held


def fine_tune_cfg(variant,
                  *,
                  data_root,
                  checkpoint,
                  work_dir,
                  lr,
                  epochs,
                  batch_size,
                  seed,
                  val_interval,
                  holdout_every=0,
                  preprocessor=None,
                  num_workers=0):
    """The fine-tuning config of one run (shared with tools/demo_digits.py).

    ``holdout_every > 0``: train on the training split less every k-th
    image and validate on those; else train on the full training split and
    validate on the test split. Cosine schedule over ``epochs``, validation
    every ``val_interval`` epochs and after the last one.
    """
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
    from mmengine.config import Config
    _, path, edit = VARIANTS[variant]
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    edit(cfg)
    data_root = osp.abspath(data_root)
    if checkpoint is None:
        cfg.model.backbone.init_cfg = None
    else:
        cfg.model.backbone.init_cfg.checkpoint = osp.abspath(checkpoint)
    if preprocessor:
        cfg.data_preprocessor.update(preprocessor)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = data_root
        loader.num_workers = num_workers
        loader.pop('persistent_workers', None)
    if holdout_every:
        train_idx, held_idx = holdout_indices(
            count_images(data_root), holdout_every)
        cfg.train_dataloader.dataset.indices = train_idx
        cfg.val_dataloader.dataset.update(
            data_prefix='train', indices=held_idx)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_dataloader.batch_size = batch_size
    cfg.optim_wrapper.optimizer.lr = lr
    cfg.param_scheduler = dict(
        type='CosineAnnealingLR', T_max=epochs, by_epoch=True)
    # mmengine's loop also validates after the last epoch
    cfg.train_cfg = dict(
        by_epoch=True,
        max_epochs=epochs,
        val_interval=min(val_interval, epochs) if val_interval else epochs)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=epochs, save_last=True)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    return cfg


def read_curve(run_dir):
    """Validation records of a run (from mmengine's ``scalars.json``):
    ``[{'epoch', 'top1', 'scatter_ratio'}]`` in order, plus the per-epoch
    mean training loss."""
    runs = sorted(
        glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise RuntimeError(f'no vis_data/scalars.json under {run_dir}')
    curve, losses = [], {}
    with open(runs[-1]) as f:
        for line in f:
            rec = json.loads(line)
            if 'accuracy/top1' in rec:
                curve.append(
                    dict(
                        epoch=int(rec['step']),
                        top1=float(rec['accuracy/top1']),
                        scatter_ratio=float(rec.get('scatter/ratio', 'nan'))))
            elif 'loss' in rec and 'epoch' in rec:
                losses.setdefault(int(rec['epoch']), []).append(rec['loss'])
    if not curve:
        raise RuntimeError(f'no validation result in {runs[-1]}')
    train_loss = [
        dict(epoch=e, loss=statistics.mean(v))
        for e, v in sorted(losses.items())
    ]
    return curve, train_loss


def run_one(job):
    """Train one run in a fresh ``tools/train.py`` process."""
    cfg, run_dir, threads = job
    os.makedirs(run_dir, exist_ok=True)
    cfg_path = osp.join(run_dir, 'config.py')
    cfg.dump(cfg_path)
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with open(osp.join(run_dir, 'train.log'), 'w') as log:
        proc = subprocess.run([
            sys.executable,
            osp.join(REPO_ROOT, 'tools', 'train.py'), cfg_path, '--work-dir',
            run_dir
        ],
                              stdout=log,
                              stderr=subprocess.STDOUT,
                              cwd=REPO_ROOT,
                              env=env)
    if proc.returncode != 0:
        raise RuntimeError(f'training failed (exit {proc.returncode}); see '
                           f'{osp.join(run_dir, "train.log")}')
    curve, train_loss = read_curve(run_dir)
    return dict(curve=curve, train_loss=train_loss, run_dir=run_dir)


class Runs:
    """Runs keyed by a string, cached in ``results.json``, trained ``jobs``
    at a time (each process with ``cpu_count // jobs`` threads)."""

    def __init__(self, work_root, jobs):
        self.work_root = work_root
        self.path = osp.join(work_root, 'results.json')
        self.jobs = max(1, jobs)
        self.threads = max(1, (os.cpu_count() or 1) // self.jobs)
        self.results = {}
        if osp.exists(self.path):
            with open(self.path) as f:
                self.results = json.load(f)

    def run(self, todo):
        """``todo``: {key: (cfg_builder, run_dir)}; trains what is missing."""
        missing = {k: v for k, v in todo.items() if k not in self.results}
        if missing:
            print(
                f'[effect] training {len(missing)} runs, {self.jobs} at a '
                f'time ({len(todo) - len(missing)} cached)',
                flush=True)

        # configs are built here, in one thread (mmengine's config loading
        # is not thread-safe); the threads only wait on training processes
        jobs = [(key, (build(), run_dir, self.threads))
                for key, (build, run_dir) in sorted(missing.items())]

        def work(item):
            return item[0], run_one(item[1])

        with ThreadPoolExecutor(self.jobs) as pool:
            for key, result in pool.map(work, jobs):
                self.results[key] = result
                last = result['curve'][-1]
                print(
                    f'[effect] {key}: top-1 {last["top1"]:.2f} at epoch '
                    f'{last["epoch"]}',
                    flush=True)
                with open(self.path, 'w') as f:
                    json.dump(self.results, f, indent=1)
        return {k: self.results[k] for k in todo}


def slug(text):
    return ''.join(c if c.isalnum() or c in '.-' else '_' for c in text)


def _shown(path):
    """A path as recorded: relative to the repo root when beside it."""
    rel = osp.relpath(osp.abspath(path), REPO_ROOT)
    return rel if not rel.startswith('../..') else osp.abspath(path)


def job(args, preset, runs, stage, key, variant, lr, epochs, seed, holdout):
    """``{key: (config builder, run dir)}`` of one run for ``Runs.run``:
    ``variant`` at ``lr``/``epochs``/``seed``, on the held-out split of the
    training images when ``holdout`` (selection), else on the full training
    split read on the test split (final runs)."""
    run_dir = osp.join(runs.work_root, stage, slug(key))
    return {
        key: (lambda: fine_tune_cfg(
            variant,
            data_root=args.data_root,
            checkpoint=args.checkpoint,
            work_dir=run_dir,
            lr=lr,
            epochs=epochs,
            batch_size=args.batch_size,
            seed=seed,
            val_interval=args.val_interval,
            holdout_every=args.holdout_every if holdout else 0,
            preprocessor=preset['preprocessor']), run_dir)
    }


def final_runs(path):
    """``{variant: {seed: last validation record}}`` of the final runs in an
    effect benchmark's ``results.json`` / committed ``curves.json``."""
    with open(path) as f:
        runs = json.load(f)
    finals = {}
    for key, run in runs.items():
        parts = [p.strip() for p in key.split('|')]
        if len(parts) == 3 and parts[0] == 'final':
            seed = int(parts[2].split()[-1])
            finals.setdefault(parts[1], {})[seed] = run['curve'][-1]
    return finals


def select_schedules(args, runs, preset):
    """Stage 1: the (lr, epochs) grid on held-out training images."""
    todo = {}
    for method in METHODS:
        for lr in args.lrs:
            for epochs in args.epochs_grid:
                key = select_key(method, lr, epochs, args.select_seed)
                todo.update(
                    job(args, preset, runs, 'select', key, method, lr, epochs,
                        args.select_seed, True))
    done = runs.run(todo)
    num_train = count_images(args.data_root)
    n_held = len(holdout_indices(num_train, args.holdout_every)[1])
    grid, chosen = [], {}
    for method in METHODS:
        best = None
        for lr in args.lrs:
            for epochs in args.epochs_grid:
                key = select_key(method, lr, epochs, args.select_seed)
                top1 = done[key]['curve'][-1]['top1']
                grid.append(
                    dict(
                        method=method,
                        lr=lr,
                        epochs=epochs,
                        heldout_top1=top1,
                        key=key))
                rank = (top1, -epochs, -lr)
                if best is None or rank > best[0]:
                    best = (rank,
                            dict(lr=lr, epochs=epochs, heldout_top1=top1))
        chosen[method] = best[1]
    eta_grid, chosen_eta = select_eta(args, runs, preset, chosen)
    selection = dict(
        dataset=args.dataset,
        data_root=_shown(args.data_root),
        checkpoint=_shown(args.checkpoint),
        heldout_images=n_held,
        train_images=num_train - n_held,
        holdout_every=args.holdout_every,
        seed=args.select_seed,
        lrs=args.lrs,
        epochs_grid=args.epochs_grid,
        batch_size=args.batch_size,
        rule='highest final held-out top-1; ties: fewer epochs, then '
        'smaller lr',
        grid=grid,
        chosen=chosen,
        etas=args.etas,
        eta_rule='highest final held-out top-1 of Core-tuning at its chosen '
        f'schedule; ties: the paper\'s eta ({PAPER_ETA}), then the smaller',
        eta_grid=eta_grid,
        chosen_eta=chosen_eta)
    with open(osp.join(runs.work_root, 'selection.json'), 'w') as f:
        json.dump(selection, f, indent=1)
    return selection


def load_selection(path, dataset):
    """A ``selection.json`` written by :func:`select_schedules`, checked to
    be one for ``dataset`` with chosen schedules for every method."""
    with open(path) as f:
        selection = json.load(f)
    missing = [
        k for k in ('dataset', 'chosen', 'chosen_eta', 'grid', 'eta_grid',
                    'heldout_images', 'checkpoint') if k not in selection
    ]
    if missing:
        raise SystemExit(f'{path}: not an effect benchmark selection.json '
                         f'(no {", ".join(missing)})')
    if selection['dataset'] != dataset:
        raise SystemExit(f'{path}: selected for --dataset '
                         f'{selection["dataset"]}, not {dataset}')
    absent = [m for m in METHODS if m not in selection['chosen']]
    if absent:
        raise SystemExit(f'{path}: no chosen schedule for '
                         f'{", ".join(absent)}')
    return selection


def select_key(variant, lr, epochs, seed):
    """The results key of a selection run (Core-tuning at the paper's eta
    keeps the key of the schedule grid, so it is trained once)."""
    return f'select | {variant} | lr {lr} | {epochs} ep | seed {seed}'


def select_eta(args, runs, preset, chosen):
    """Stage 1b: Core-tuning's eta on the same held-out images, at the
    schedule chosen for Core-tuning in stage 1."""
    sched = chosen['Core-tuning']
    todo = {}
    for eta in args.etas:
        variant = eta_variant(eta)
        key = select_key(variant, sched['lr'], sched['epochs'],
                         args.select_seed)
        todo.update(
            job(args, preset, runs, 'select', key, variant, sched['lr'],
                sched['epochs'], args.select_seed, True))
    done = runs.run(todo)
    grid, best = [], None
    for eta in args.etas:
        key = select_key(
            eta_variant(eta), sched['lr'], sched['epochs'], args.select_seed)
        top1 = done[key]['curve'][-1]['top1']
        grid.append(dict(eta=eta, heldout_top1=top1, key=key))
        rank = (top1, eta == PAPER_ETA, -eta)
        if best is None or rank > best[0]:
            best = (rank, eta)
    return grid, best[1]


def paired_stats(diffs):
    """Mean, 95 % confidence interval (t distribution) and the paired
    t-test's two-sided p-value of per-seed paired differences."""
    from scipy import stats
    n = len(diffs)
    mean = statistics.mean(diffs)
    if n < 2:
        return dict(
            n=n, mean=mean, ci=(float('nan'), float('nan')), p=float('nan'))
    sd = statistics.stdev(diffs)
    half = stats.t.ppf(0.975, n - 1) * sd / n**0.5
    if sd == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(mean) / (sd / n**0.5), n - 1))
    return dict(n=n, mean=mean, sd=sd, ci=(mean - half, mean + half), p=p)


def paired_cells(diffs):
    """Table cells of per-seed paired differences: the differences, their
    mean ± std, the 95 % confidence interval and the paired t-test p."""
    st = paired_stats(diffs)
    return (', '.join(f'{d:+.2f}'
                      for d in diffs), f'{st["mean"]:+.2f} ± {st["sd"]:.2f}'
            if len(diffs) > 1 else f'{diffs[0]:+.2f}',
            f'[{st["ci"][0]:+.2f}, {st["ci"][1]:+.2f}]', f'{st["p"]:.3f}')


def fmt(values, digits=2):
    if len(values) == 1:
        return f'{values[0]:.{digits}f}'
    return (f'{statistics.mean(values):.{digits}f} ± '
            f'{statistics.stdev(values):.{digits}f}')


def selection_table(selection):
    lines = [
        '| method | lr | epochs | held-out top-1 (%) | chosen |',
        '|---|---|---|---|---|'
    ]
    for row in selection['grid']:
        c = selection['chosen'][row['method']]
        mark = '**yes**' if (c['lr'], c['epochs']) == (row['lr'],
                                                       row['epochs']) else ''
        lines.append(f'| {row["method"]} | {row["lr"]} | {row["epochs"]} | '
                     f'{row["heldout_top1"]:.2f} | {mark} |')
    return '\n'.join(lines)


def eta_table(selection):
    lines = [
        f'Contrastive weight eta of Core-tuning at its chosen schedule '
        f'(lr {selection["chosen"]["Core-tuning"]["lr"]}, '
        f'{selection["chosen"]["Core-tuning"]["epochs"]} epochs), same '
        'held-out images; rule: ' + selection['eta_rule'] + '.\n',
        '| eta | held-out top-1 (%) | chosen |', '|---|---|---|'
    ]
    for row in selection['eta_grid']:
        mark = '**yes**' if row['eta'] == selection['chosen_eta'] else ''
        lines.append(f'| {row["eta"]:g} | {row["heldout_top1"]:.2f} | '
                     f'{mark} |')
    return '\n'.join(lines)


def final_table(results, variants, seeds, schedules):
    """mean ± std per variant and the per-seed paired difference to CE."""
    ce = {s: results[f'final | CE-tuning | seed {s}'] for s in seeds} \
        if 'CE-tuning' in variants else None
    lines = [
        '| variant | lr | epochs | top-1 (%) | scatter ratio | '
        'paired diff. to CE per seed | diff. mean ± std | 95 % CI | '
        'paired t-test p |', '|---|---|---|---|---|---|---|---|---|'
    ]
    for name in variants:
        rows = [
            results[f'final | {name} | seed {s}']['curve'][-1] for s in seeds
        ]
        sched = schedules[VARIANTS[name][0]]
        top1 = [r['top1'] for r in rows]
        diff_cells = ('—', ) * 4
        if ce is not None and name != 'CE-tuning':
            diff_cells = paired_cells(
                [t - ce[s]['curve'][-1]['top1'] for t, s in zip(top1, seeds)])
        lines.append(
            f'| {name} | {sched["lr"]} | {sched["epochs"]} | {fmt(top1)} | '
            f'{fmt([r["scatter_ratio"] for r in rows], 3)} | ' +
            ' | '.join(diff_cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument(
        '--dataset',
        choices=list(DATASETS),
        default='cifar10',
        help='preset for --data-root, '
        '--checkpoint, --batch-size and the normalisation')
    parser.add_argument('--work-dir', default='work_dirs/effect')
    parser.add_argument('--data-root')
    parser.add_argument('--checkpoint')
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--variants',
        nargs='+',
        default=DEFAULT_VARIANTS,
        help='variants of the final runs: ' +
        ', '.join(VARIANTS).replace('%', '%%') +
        ", or 'selected' (Core-tuning at the selected eta; default: CE, "
        'Core at the paper\'s eta, Core at the selected eta)')
    parser.add_argument(
        '--lrs', type=float, nargs='+', default=[0.01, 0.05, 0.1])
    parser.add_argument('--epochs-grid', type=int, nargs='+', default=[30, 60])
    parser.add_argument(
        '--etas',
        type=float,
        nargs='+',
        default=[0.1, 1.0, 10.0],
        help="Core-tuning's eta grid, selected on the held-out images at "
        "Core-tuning's chosen schedule")
    parser.add_argument(
        '--holdout-every',
        type=int,
        default=5,
        help='hold out every k-th training image for the '
        'selection (default 5: 20 %%)')
    parser.add_argument('--select-seed', type=int, default=0)
    parser.add_argument('--val-interval', type=int, default=5)
    parser.add_argument(
        '--fixed-schedule',
        nargs=2,
        metavar=('LR', 'EPOCHS'),
        help='skip the selection: every method trains LR, '
        'EPOCHS (not a converged comparison unless chosen '
        'on held-out data)')
    parser.add_argument(
        '--selection',
        metavar='SELECTION_JSON',
        help='skip the selection: take the schedules and eta chosen in an '
        "earlier run's selection.json (e.g. a committed one, to rerun the "
        'final runs from another checkpoint); the report names it')
    parser.add_argument('--select-only', action='store_true')
    parser.add_argument(
        '--jobs',
        type=int,
        default=1,
        help='runs trained at once (each with cpu_count/jobs '
        'threads); results depend on it only in the last '
        'float bits')
    args = parser.parse_args(argv)
    preset = DATASETS[args.dataset]
    args.data_root = args.data_root or preset['data_root']
    args.checkpoint = args.checkpoint or preset['checkpoint']
    args.batch_size = args.batch_size or preset['batch_size']
    for path in (args.data_root, args.checkpoint):
        if not osp.exists(path):
            hint = (' (run `make demo` first: it writes the digits and their '
                    'MoCo backbone)' if args.dataset == 'digits' else '')
            raise SystemExit(f'not found: {path}{hint}')

    if args.selection:
        if args.fixed_schedule or args.select_only:
            raise SystemExit('--selection gives the schedules: not with '
                             '--fixed-schedule or --select-only')
        if not osp.exists(args.selection):
            raise SystemExit(f'not found: {args.selection}')
        selection = load_selection(args.selection, args.dataset)

    work_root = osp.abspath(args.work_dir)
    os.makedirs(work_root, exist_ok=True)
    runs = Runs(work_root, args.jobs)
    report = []
    chosen_eta = None
    if args.selection:
        schedules = selection['chosen']
        chosen_eta = selection['chosen_eta']
        report.append(
            f'Schedules and eta from {_shown(args.selection)}, not selected '
            'again: chosen there on '
            f'{selection["heldout_images"]} held-out training images with '
            f'checkpoint {selection["checkpoint"]}; the final runs below '
            f'start from {_shown(args.checkpoint)}.\n')
        report.append(selection_table(selection) + '\n')
        report.append(eta_table(selection) + '\n')
    elif args.fixed_schedule:
        lr, epochs = float(args.fixed_schedule[0]), int(args.fixed_schedule[1])
        schedules = {m: dict(lr=lr, epochs=epochs) for m in METHODS}
        report.append(
            f'Fixed schedule lr {lr}, {epochs} epochs for every method '
            '(--fixed-schedule): not chosen on held-out data, so this '
            'compares methods at one budget only.\n')
    else:
        selection = select_schedules(args, runs, preset)
        schedules = selection['chosen']
        report.append(
            f'Selection on {selection["heldout_images"]} held-out training '
            f'images (every {args.holdout_every}th; trained on the other '
            f'{selection["train_images"]}), seed {args.select_seed}, rule: '
            f'{selection["rule"]}. The test split is not read.\n')
        report.append(selection_table(selection) + '\n')
        report.append(eta_table(selection) + '\n')
        chosen_eta = selection['chosen_eta']
        if args.select_only:
            print('\n'.join(report))
            return runs.results

    if 'selected' in args.variants and chosen_eta is None:
        raise SystemExit("--variants selected needs the eta selection (not "
                         'with --fixed-schedule)')
    variants = []
    for name in args.variants:
        if name == 'selected':
            name = eta_variant(chosen_eta)
        elif name not in VARIANTS:
            raise SystemExit(f'unknown variant {name!r}; one of '
                             f'{", ".join(VARIANTS)} or selected')
        if name not in variants:
            variants.append(name)
    todo = {}
    for name in variants:
        sched = schedules[VARIANTS[name][0]]
        for seed in args.seeds:
            key = f'final | {name} | seed {seed}'
            todo.update(
                job(args, preset, runs, 'final', key, name, sched['lr'],
                    sched['epochs'], seed, False))
    results = runs.run(todo)
    n_test = count_images(args.data_root, 'test')
    report.append(
        f'Final runs: full training split ({count_images(args.data_root)} '
        f'images), batch {args.batch_size}, seeds {args.seeds}; top-1 and '
        f'scatter ratio after the last epoch on the test split ({n_test} '
        'images); mean ± std over seeds.\n')
    report.append(final_table(results, variants, args.seeds, schedules))
    if chosen_eta is not None:
        report.append(f'\nSelected eta: {chosen_eta:g} (row '
                      f'"{eta_variant(chosen_eta)}").')
    text = '\n'.join(report)
    print('\n' + text)
    with open(osp.join(work_root, 'report.md'), 'w') as f:
        f.write(text + '\n')
    return runs.results


if __name__ == '__main__':
    main()
