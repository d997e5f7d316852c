"""Label-efficiency benchmark: CE-tuning vs Core-tuning as a function of the
number of labelled training images per class.

For every budget ``B`` (labelled images per class):

1. **Pools.** The last ``--heldout-per-class`` images of every class of the
   training split (in mmpretrain's sorted, class-grouped order) are held
   out for the selection; a budget's labelled subset is drawn from the
   others: ``B`` images per class, a fresh draw per seed (a private
   ``numpy`` generator seeded with the seed; the same subset for every
   method in that seed). The held-out images are in no subset.
2. **Selection** (seed ``--select-seed``, its own subset): each method's
   (lr, epochs) of the best final held-out top-1 over the grid, then
   Core-tuning's eta over ``--etas`` at its chosen schedule (ties: fewer
   epochs, then the smaller lr; for eta the paper's 0.1, then the smaller).
   The test split is not read.
3. **Final runs**: every variant on each seed's subset at its method's
   chosen schedule, validated on the test split every tenth of the run
   (learning curves); the last reading is the result. Per budget: mean ±
   std, per-seed paired differences to CE-tuning, their 95 % CI and
   paired t-test p; the fraction of the objective the contrast is.

``--ablation-budget B``: also the ablations (``--ablations``, each at the
selected eta) on budget ``B`` with the first ``--ablation-seeds`` seeds.
Finished runs are cached in ``results.json`` (an interrupted command goes on
from there); ``report.md``, ``summary.json`` and ``label_budget.png`` are
written from what has finished.
"""
import argparse
import json
import os
import os.path as osp
import statistics

import numpy as np

from .classification import (PAPER_ETA, VARIANTS, eta_variant, fine_tune_cfg,
                             read_curve)
from .harness import (REPO_ROOT, SHARED, Runs, best_of, fmt, grid_choice,
                      paired_cells, paired_stats, shown, slug)

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
# per budget: the epoch grid of the selection and the batch size (a
# divisor of the subset, so drop_last loses no labelled image)
DEFAULT_EPOCHS = {
    10: (100, 200),
    25: (60, 120),
    50: (40, 80),
    100: (30, 60),
    250: (30, 60),
    500: (30, 60)
}
DEFAULT_BATCH = {10: 50, 25: 50, 50: 50, 100: 100, 250: 125, 500: 125}
ABLATIONS = ('Core, eta=0 (mixed CE only)', 'Core w/o hard mixup',
             'Core, projector N(0, 0.01)', 'Core, anchor-class positives')


def class_ranges(data_root, split='train'):
    """``[(class, first index, count)]`` of a folder-per-class split in
    mmpretrain's order (classes sorted, files sorted within a class)."""
    root = osp.join(data_root, split)
    if not osp.isdir(root):
        raise FileNotFoundError(f'no {split}/ folder under {data_root}')
    out, start = [], 0
    for name in sorted(os.listdir(root)):
        folder = osp.join(root, name)
        if not osp.isdir(folder):
            continue
        n = sum(1 for f in os.listdir(folder)
                if f.lower().endswith(IMAGE_EXTENSIONS))
        out.append((name, start, n))
        start += n
    if not out:
        raise FileNotFoundError(f'no class folders under {root}')
    return out


def pools(ranges, heldout_per_class):
    """``(pool by class, held-out indices)``: the last ``heldout_per_class``
    images of each class are held out, the rest form the labelled pool."""
    by_class, held = [], []
    for name, start, n in ranges:
        if n <= heldout_per_class:
            raise ValueError(f'class {name!r} has {n} images: not more than '
                             f'--heldout-per-class {heldout_per_class}')
        by_class.append(list(range(start, start + n - heldout_per_class)))
        held.extend(range(start + n - heldout_per_class, start + n))
    return by_class, held


def budget_subset(by_class, per_class, seed):
    """``per_class`` indices of every class's pool, drawn without
    replacement by a private generator seeded with ``seed`` (no global RNG
    is touched), sorted."""
    small = min(len(p) for p in by_class)
    if per_class > small:
        raise ValueError(f'budget {per_class}/class is more than the '
                         f'{small} images a class has in the pool')
    rng = np.random.default_rng(seed)
    picked = []
    for pool in by_class:
        picked.extend(int(i) for i in rng.choice(pool, per_class, False))
    return sorted(picked)


def ablation_variant(name, eta):
    """``name`` (an ablation of VARIANTS) at Core-tuning weight ``eta``:
    the ablation's edit after the eta's (``eta=0`` is eta-free)."""
    if eta == PAPER_ETA or name == 'Core, eta=0 (mixed CE only)':
        return name
    base = VARIANTS[eta_variant(eta)][2]
    method, path, edit = VARIANTS[name]
    combined = f'{name} @ eta={eta:g}'

    def both(cfg):
        base(cfg)
        edit(cfg)

    VARIANTS.setdefault(combined, (method, path, both))
    return combined


def _parse_epochs(specs):
    out = dict(DEFAULT_EPOCHS)
    for spec in specs or ():
        try:
            budget, grid = spec.split(':')
            out[int(budget)] = tuple(int(e) for e in grid.split(','))
        except ValueError:
            raise SystemExit(f'--epochs-grid {spec!r}: expected '
                             'BUDGET:E1,E2 (e.g. 10:100,200)')
    return out


class Benchmark:
    """The runs of one work dir: selection and final runs per budget."""

    def __init__(self, args):
        self.args = args
        self.ranges = class_ranges(args.data_root)
        self.by_class, self.held = pools(self.ranges, args.heldout_per_class)
        self.runs = Runs(args.work_dir, args.jobs, read_curve)
        self.epochs = _parse_epochs(args.epochs_grid)

    def batch(self, budget):
        if self.args.batch_size:
            return self.args.batch_size
        return DEFAULT_BATCH.get(budget, 50)

    def job(self, key, variant, budget, lr, epochs, seed, subset_seed, select):
        run_dir = osp.join(self.runs.work_root, f'{budget}pc',
                           'select' if select else 'final', slug(key))
        args = self.args

        def build():
            return fine_tune_cfg(
                variant,
                data_root=args.data_root,
                checkpoint=args.checkpoint,
                work_dir=run_dir,
                lr=lr,
                epochs=epochs,
                batch_size=self.batch(budget),
                seed=seed,
                val_interval=max(1, epochs // 10),
                train_indices=budget_subset(self.by_class, budget,
                                            subset_seed),
                val_indices=self.held if select else None)

        return {key: (build, run_dir)}

    def select(self, budget):
        """Stage 2 for one budget: ``(selection record, chosen)``."""
        args, seed = self.args, self.args.select_seed
        if budget not in self.epochs:
            raise SystemExit(f'no epoch grid for budget {budget}: give '
                             f'--epochs-grid {budget}:E1,E2')

        def key(variant, lr, epochs):
            return (f'select | {budget}/class | {variant} | lr {lr} | '
                    f'{epochs} ep | seed {seed}')

        todo = {}
        for method in ('CE-tuning', 'Core-tuning'):
            for lr in args.lrs:
                for epochs in self.epochs[budget]:
                    todo.update(
                        self.job(
                            key(method, lr, epochs), method, budget, lr,
                            epochs, seed, seed, True))
        done = self.runs.run(todo)
        if len(done) < len(todo):  # --report-only, selection unfinished
            return None
        grid, chosen = grid_choice(('CE-tuning', 'Core-tuning'), [
            dict(lr=lr, epochs=e) for lr in args.lrs
            for e in self.epochs[budget]
        ], 'heldout_top1', lambda m, p: done[key(m, p['lr'], p['epochs'])][
            'curve'][-1]['top1'], lambda r: (-r['epochs'], -r['lr']))
        core = chosen['Core-tuning']
        todo = {}
        for eta in args.etas:
            todo.update(
                self.job(
                    key(eta_variant(eta), core['lr'], core['epochs']),
                    eta_variant(eta), budget, core['lr'], core['epochs'], seed,
                    seed, True))
        done = self.runs.run(todo)
        if len(done) < len(todo):
            return None
        eta_grid = []
        for eta in args.etas:
            run = done[key(eta_variant(eta), core['lr'], core['epochs'])]
            eta_grid.append(
                dict(
                    eta=eta,
                    heldout_top1=run['curve'][-1]['top1'],
                    con_fraction=con_fraction(run)))
        best = best_of(
            eta_grid, lambda r:
            (r['heldout_top1'], r['eta'] == PAPER_ETA, -r['eta']))
        chosen['eta'] = best['eta']
        return dict(
            budget=budget,
            batch_size=self.batch(budget),
            grid=grid,
            eta_grid=eta_grid,
            chosen=chosen)

    def finals(self, budget, selection, variants, seeds):
        todo = {}
        for name in variants:
            method = VARIANTS[name][0]
            sched = selection['chosen'][method]
            for seed in seeds:
                todo.update(
                    self.job(
                        final_key(budget, name, seed), name, budget,
                        sched['lr'], sched['epochs'], seed, seed, False))
        return self.runs.run(todo)


def final_key(budget, variant, seed):
    return f'final | {budget}/class | {variant} | seed {seed}'


def con_fraction(run):
    """Mean over the run's epochs of ``loss_con / loss`` (None for a run
    that logs no contrastive term)."""
    rows = [
        r['con_fraction'] for r in run['train_loss'] if 'con_fraction' in r
    ]
    return statistics.mean(rows) if rows else None


def finals_of(results, budget, variant):
    """``{seed: final top-1}`` of a variant's final runs at a budget."""
    prefix = f'final | {budget}/class | {variant} | seed '
    return {
        int(k[len(prefix):]): r['curve'][-1]['top1']
        for k, r in results.items() if k.startswith(prefix)
    }


def budget_rows(results, budget, variants):
    """Table rows of one budget: variant, seeds, mean ± std, paired cells
    to CE-tuning (over the seeds both have)."""
    ce = finals_of(results, budget, 'CE-tuning')
    rows = []
    for name in variants:
        values = finals_of(results, budget, name)
        if not values:
            continue
        prefix = f'final | {budget}/class | {name} | seed '
        fractions = [
            con_fraction(r) for k, r in results.items() if k.startswith(prefix)
        ]
        row = dict(
            variant=name,
            seeds=sorted(values),
            top1=fmt([values[s] for s in sorted(values)]),
            con_fraction=None
            if None in fractions else statistics.mean(fractions))
        common = sorted(set(values) & set(ce))
        if name != 'CE-tuning' and len(common) >= 2:
            diffs = [values[s] - ce[s] for s in common]
            row['paired'] = paired_cells(diffs)
            row['stats'] = paired_stats(diffs)
        rows.append(row)
    return rows


def report(bench, selections, variants_of):
    """``(markdown, summary)`` of what has finished."""
    results = bench.runs.results
    lines = [
        f'Labelled subsets from {shown(bench.args.data_root)} (train); '
        f'selection on the last {bench.args.heldout_per_class} images of '
        f'each class ({len(bench.held)} held-out images, in no subset), '
        f'seed {bench.args.select_seed}; final runs read on the test split; '
        f'checkpoint {shown(bench.args.checkpoint)}.\n'
    ]
    summary = {}
    for budget, selection in selections.items():
        c = selection['chosen']
        lines.append(f'### {budget} labelled images per class '
                     f'(batch {selection["batch_size"]})\n')
        lines.append('| method | lr | epochs | held-out top-1 (%) |')
        lines.append('|---|---|---|---|')
        for r in selection['grid']:
            mark = ' **chosen**' if (r['lr'], r['epochs']) == (
                c[r['method']]['lr'], c[r['method']]['epochs']) else ''
            lines.append(f'| {r["method"]} | {r["lr"]} | {r["epochs"]} | '
                         f'{r["heldout_top1"]:.2f}{mark} |')
        lines.append('\n| eta (Core-tuning at its schedule) | held-out top-1 '
                     '(%) | loss_con / loss (mean over epochs) |')
        lines.append('|---|---|---|')
        for r in selection['eta_grid']:
            mark = ' **chosen**' if r['eta'] == c['eta'] else ''
            frac = '—' if r['con_fraction'] is None else \
                f'{r["con_fraction"]:.3f}'
            lines.append(f'| {r["eta"]:g} | {r["heldout_top1"]:.2f}{mark} | '
                         f'{frac} |')
        rows = budget_rows(results, budget, variants_of[budget])
        lines.append('\n| variant | seeds | top-1 (%) | paired diff. to CE '
                     'per seed | mean ± std | 95 % CI | p | loss_con / loss |')
        lines.append('|---|---|---|---|---|---|---|---|')
        for r in rows:
            cells = r.get('paired', ('—', ) * 4)
            frac = '—' if r['con_fraction'] is None else \
                f'{r["con_fraction"]:.3f}'
            lines.append(f'| {r["variant"]} | {len(r["seeds"])} | '
                         f'{r["top1"]} | ' + ' | '.join(cells) +
                         f' | {frac} |')
        lines.append('')
        summary[budget] = dict(
            selection=selection,
            finals={
                r['variant']:
                dict(
                    seeds=r['seeds'],
                    top1=finals_of(results, budget, r['variant']),
                    paired=r.get('stats'))
                for r in rows
            })
    return '\n'.join(lines), summary


def plot(summary, out, variants=('CE-tuning', 'Core-tuning', 'selected')):
    """Top-1 against labels per class with 95 % intervals of the mean."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for label in variants:
        xs, ys, hs = [], [], []
        for budget, rec in sorted(summary.items()):
            name = label
            if label == 'selected':
                name = eta_variant(rec['selection']['chosen']['eta'])
                if name == 'Core-tuning':
                    continue
            top1 = rec['finals'].get(name, {}).get('top1')
            if not top1:
                continue
            st = paired_stats(list(top1.values()))  # mean and its t CI
            half = st['ci'][1] - st['mean']
            xs.append(budget)
            ys.append(st['mean'])
            hs.append(0 if half != half else half)
        if xs:
            shown_label = 'Core-tuning (selected eta)' if label == \
                'selected' else label + (' (eta 0.1)'
                                         if label == 'Core-tuning' else '')
            ax.errorbar(
                xs, ys, yerr=hs, marker='o', capsize=3, label=shown_label)
    ax.set_xscale('log')
    ax.set_xlabel('labelled training images per class')
    ax.set_ylabel('test top-1 (%), mean and 95 % CI')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_curves(results, budget, variants, out):
    """Learning curves of a budget's final runs: test top-1 against epoch,
    the mean over seeds per variant with its min-max band."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in variants:
        prefix = f'final | {budget}/class | {name} | seed '
        curves = [
            r['curve'] for k, r in results.items() if k.startswith(prefix)
        ]
        if not curves:
            continue
        epochs = [p['epoch'] for p in curves[0]]
        top1 = np.array([[p['top1'] for p in c] for c in curves
                         if [p['epoch'] for p in c] == epochs])
        line, = ax.plot(
            epochs, top1.mean(0), label=f'{name} ({len(top1)} seeds)')
        ax.fill_between(
            epochs,
            top1.min(0),
            top1.max(0),
            alpha=0.15,
            color=line.get_color())
    ax.set_xlabel('epoch')
    ax.set_ylabel('test top-1 (%)')
    ax.set_title(f'{budget} labelled images per class')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='label_budget_benchmark.py',
        description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--work-dir', default='work_dirs/label_budget')
    parser.add_argument(
        '--data-root', default=osp.join(SHARED, 'data', 'cifar10-jpg'))
    parser.add_argument(
        '--checkpoint',
        default=osp.join(
            REPO_ROOT, 'checkpoints',
            'mocov2_resnet18w16_1xb256-coslr-30e_cifar10-32_20261130-'
            'fc0120ac.pth'))
    parser.add_argument('--budgets', type=int, nargs='+', default=[10, 25, 50])
    parser.add_argument('--seeds', type=int, nargs='+', default=list(range(5)))
    parser.add_argument(
        '--seeds-for',
        nargs='+',
        default=[],
        metavar='BUDGET:N',
        help='more (or fewer) seeds for a budget, e.g. 10:10')
    parser.add_argument('--select-seed', type=int, default=100)
    parser.add_argument('--heldout-per-class', type=int, default=50)
    parser.add_argument('--lrs', type=float, nargs='+', default=[0.03, 0.1])
    parser.add_argument(
        '--epochs-grid',
        nargs='+',
        metavar='BUDGET:E1,E2',
        help='epoch grid of a budget (defaults: ' +
        ', '.join(f'{b}:{",".join(map(str, e))}'
                  for b, e in DEFAULT_EPOCHS.items()) + ')')
    parser.add_argument(
        '--etas', type=float, nargs='+', default=[0.1, 1.0, 10.0, 100.0])
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--ablation-budget', type=int)
    parser.add_argument('--ablation-seeds', type=int, default=5)
    parser.add_argument('--ablations', nargs='+', default=list(ABLATIONS))
    parser.add_argument('--jobs', type=int, default=1)
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='train nothing: the report, figures and summary from the '
        'cached runs (e.g. while the benchmark runs in another process)')
    args = parser.parse_args(argv)
    for path in (args.data_root, args.checkpoint):
        if not osp.exists(path):
            raise SystemExit(f'not found: {path}')
    for name in args.ablations:
        if name not in VARIANTS:
            raise SystemExit(f'unknown ablation {name!r}; one of '
                             f'{", ".join(VARIANTS)}')
    seeds_for = {}
    for spec in args.seeds_for:
        try:
            b, n = spec.split(':')
            seeds_for[int(b)] = list(range(int(n)))
        except ValueError:
            raise SystemExit(f'--seeds-for {spec!r}: expected BUDGET:N')
    if args.ablation_budget is not None and \
            args.ablation_budget not in args.budgets:
        raise SystemExit(f'--ablation-budget {args.ablation_budget} is not '
                         'one of --budgets')
    args.work_dir = osp.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    bench = Benchmark(args)
    bench.runs.train = not args.report_only
    selections, variants_of = {}, {}
    for budget in args.budgets:
        selection = bench.select(budget)
        if selection is None:
            print(
                f'[benchmark] {budget}/class: selection not finished',
                flush=True)
            continue
        selections[budget] = selection
        eta = selection['chosen']['eta']
        variants = ['CE-tuning', 'Core-tuning']
        if eta_variant(eta) not in variants:
            variants.append(eta_variant(eta))
        seeds = seeds_for.get(budget, args.seeds)
        bench.finals(budget, selection, variants, seeds)
        if budget == args.ablation_budget:
            ablations = [ablation_variant(a, eta) for a in args.ablations]
            bench.finals(budget, selection, ablations,
                         seeds[:args.ablation_seeds])
            variants += ablations
        variants_of[budget] = variants
        write_outputs(bench, selections, variants_of)
    return bench.runs.results


def write_outputs(bench, selections, variants_of):
    text, summary = report(bench, selections, variants_of)
    root = bench.runs.work_root
    with open(osp.join(root, 'report.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(root, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    plot(summary, osp.join(root, 'label_budget.png'))
    for budget in summary:
        plot_curves(bench.runs.results, budget, variants_of[budget],
                    osp.join(root, f'curves_{budget}pc.png'))
    print('\n' + text, flush=True)
