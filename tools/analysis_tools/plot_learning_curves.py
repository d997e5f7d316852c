"""Learning curves of fine-tuning runs: validation top-1 and training loss
vs epoch, one line per method (the mean over its seeds) with the spread
(min-max band) -- read from each run's mmengine ``vis_data/scalars.json``.

    # every final run of an effect-benchmark work dir (+ its selection runs)
    python tools/analysis_tools/plot_learning_curves.py work_dirs/effect \\
        --out docs/curves_cifar10_fixed_schedule.png
    # explicit runs: LABEL RUN_DIR, a label repeated for several seeds
    python tools/analysis_tools/plot_learning_curves.py \\
        --run CE work_dirs/demo_digits/ce-tuning \\
        --run Core work_dirs/demo_digits/core-tuning --out curves.png
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np


def _effect():
    from coretune_mm.benchmark import effect
    return effect


def runs_of_benchmark(work_dir, variants=None):
    """{label: [run_dir]} of the final runs and {label: [run_dir]} of the
    selection runs of an effect-benchmark work dir (its results.json)."""
    with open(osp.join(work_dir, 'results.json')) as f:
        results = json.load(f)
    final, select = {}, {}
    for key, rec in sorted(results.items()):
        parts = [p.strip() for p in key.split('|')]
        run_dir = rec['run_dir']
        if not osp.isabs(run_dir):
            run_dir = osp.join(work_dir, run_dir)
        if parts[0] == 'final' and (not variants or parts[1] in variants):
            final.setdefault(parts[1], []).append(run_dir)
        elif parts[0] == 'select':
            epochs = int(parts[3].split()[0])
            select.setdefault((parts[1], parts[2]), []).append(
                (epochs, run_dir))
    # the selection panel: the longest run of each (method, lr)
    select = {
        f'{m}, {lr}, {max(runs)[0]} ep': [max(runs)[1]]
        for (m, lr), runs in select.items()
    }
    return final, select


def curves(groups):
    """{label: (epochs, top1 (seeds, T), loss_epochs, loss (seeds, T'))}"""
    read_curve = _effect().read_curve
    out = {}
    for label, dirs in groups.items():
        recs = [read_curve(d) for d in dirs]
        epochs = [r['epoch'] for r in recs[0][0]]
        for (c, _), d in zip(recs, dirs):
            if [r['epoch'] for r in c] != epochs:
                raise ValueError(f'{d}: validated at other epochs than '
                                 f'{dirs[0]}; cannot average {label!r}')
        top1 = np.array([[r['top1'] for r in c] for c, _ in recs])
        loss_epochs = [r['epoch'] for r in recs[0][1]]
        loss = np.array([[r['loss'] for r in tl] for _, tl in recs])
        out[label] = (epochs, top1, loss_epochs, loss)
    return out


def _band(ax, x, values, label, color):
    mean = values.mean(axis=0)
    n = values.shape[0]
    ax.plot(
        x,
        mean,
        color=color,
        lw=1.8,
        label=f'{label} (mean of {n} seeds, band min-max)' if n > 1 else label)
    if n > 1:
        ax.fill_between(
            x,
            values.min(axis=0),
            values.max(axis=0),
            color=color,
            alpha=0.2,
            lw=0)


def plot(final,
         select=None,
         out='curves.png',
         title=None,
         split_name='validation'):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    data = curves(final)
    ncols = 4 if select else 3
    fig, axes = plt.subplots(1, ncols, figsize=(4.6 * ncols, 4.2))
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for i, (label, (ep, top1, lep, loss)) in enumerate(data.items()):
        color = colors[i % len(colors)]
        _band(axes[0], ep, top1, label, color)
        # zoom: the second half of training, where the methods converge
        half = [k for k, e in enumerate(ep) if e >= ep[-1] / 2]
        _band(axes[1], [ep[k] for k in half], top1[:, half], label, color)
        if loss.size:
            _band(axes[2], lep, loss, label, color)
        print(f'{label}: final {split_name} top-1 '
              f'{top1[:, -1].mean():.2f} (min {top1[:, -1].min():.2f}, max '
              f'{top1[:, -1].max():.2f}, {top1.shape[0]} runs)')
    axes[0].set(
        xlabel='epoch',
        ylabel=f'top-1 (%), {split_name}',
        title=f'{split_name} top-1')
    axes[1].set(
        xlabel='epoch',
        ylabel=f'top-1 (%), {split_name}',
        title='second half (zoom)')
    axes[2].set(
        xlabel='epoch',
        ylabel='training loss (epoch mean)',
        title='training loss (all terms)')
    if select:
        sel = curves(select)
        for i, (label, (ep, top1, _, _)) in enumerate(sel.items()):
            style = '-' if label.startswith('CE') else '--'
            axes[3].plot(
                ep,
                top1[0],
                style,
                lw=1.2,
                label=label,
                color=colors[i % len(colors)])
        axes[3].set(
            xlabel='epoch',
            ylabel='top-1 (%), held-out train',
            title='selection grid (held-out training images)')
        axes[3].legend(fontsize=6, ncol=2)
    for ax in axes[:3]:
        ax.legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f'wrote {out}')
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument(
        'work_dir',
        nargs='?',
        help='an effect-benchmark work dir (results.json)')
    parser.add_argument(
        '--run',
        nargs=2,
        action='append',
        default=[],
        metavar=('LABEL', 'RUN_DIR'))
    parser.add_argument(
        '--variants',
        nargs='+',
        help='final-run variants to draw (default: all)')
    parser.add_argument('--no-selection', action='store_true')
    parser.add_argument('--split-name', default='test split')
    parser.add_argument('--title')
    parser.add_argument('--out', default='curves.png')
    args = parser.parse_args(argv)
    final, select = {}, {}
    if args.work_dir:
        final, select = runs_of_benchmark(args.work_dir, args.variants)
    for label, run_dir in args.run:
        final.setdefault(label, []).append(run_dir)
    if not final:
        raise SystemExit('nothing to draw: give a work dir or --run')
    plot(final, None if args.no_selection else select, args.out, args.title,
         args.split_name)


if __name__ == '__main__':
    sys.exit(main())
