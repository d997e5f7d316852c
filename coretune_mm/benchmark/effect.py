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
import json
import os
import os.path as osp

from .classification import (DATASETS, DEFAULT_VARIANTS, METHODS, PAPER_ETA,
                             VARIANTS, count_images, eta_variant, final_runs,
                             fine_tune_cfg, holdout_indices, read_curve)
from .harness import Runs, fmt, paired_cells, paired_stats, shown, slug

__all__ = [
    'DATASETS', 'METHODS', 'PAPER_ETA', 'VARIANTS', 'count_images',
    'eta_variant', 'fine_tune_cfg', 'final_runs', 'holdout_indices',
    'read_curve', 'fmt', 'paired_cells', 'paired_stats', 'slug',
    'load_selection', 'select_key', 'main'
]


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
        data_root=shown(args.data_root),
        checkpoint=shown(args.checkpoint),
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
        prog='effect_benchmark.py',
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
    runs = Runs(work_root, args.jobs, read_curve)
    report = []
    chosen_eta = None
    if args.selection:
        schedules = selection['chosen']
        chosen_eta = selection['chosen_eta']
        report.append(
            f'Schedules and eta from {shown(args.selection)}, not selected '
            'again: chosen there on '
            f'{selection["heldout_images"]} held-out training images with '
            f'checkpoint {selection["checkpoint"]}; the final runs below '
            f'start from {shown(args.checkpoint)}.\n')
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
