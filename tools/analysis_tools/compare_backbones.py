"""Does Core-tuning's effect change with the backbone? The effect benchmark's
final runs of two backbones side by side.

Each ``LABEL=RESULTS_JSON`` is the ``results.json`` of an
``effect_benchmark.py`` work dir (or a committed ``curves.json`` copy of one),
run with the same selection and seeds from a different checkpoint. For every
Core-tuning variant the script prints, per backbone, the per-seed paired
difference to CE-tuning (final test top-1, the same seed) with its mean, 95 %
confidence interval and paired t-test p, and then the change of that effect
from the first backbone to each later one: the difference of the mean paired
effects with a Welch 95 % interval and p-value (the backbones' runs are
independent; a seed is not paired across backbones)::

    python tools/analysis_tools/compare_backbones.py \\
        'MoCo v2 8 ep (kNN 43.85)=docs/results/cifar10/curves.json' \\
        'MoCo v2 30 ep (kNN 52.05)=docs/results/cifar10_moco30e/curves.json'
"""
import argparse
import os.path as osp
import statistics
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
from coretune_mm.benchmark.classification import final_runs  # noqa: E402
from coretune_mm.benchmark.harness import fmt, paired_cells  # noqa: E402


def paired_effects(table, variant):
    """Per-seed ``variant - CE-tuning`` over the seeds both have, of a
    ``{variant: {seed: final top-1}}`` table."""
    if 'CE-tuning' not in table:
        raise SystemExit('no CE-tuning final runs to pair with')
    seeds = sorted(set(table[variant]) & set(table['CE-tuning']))
    return seeds, [table[variant][s] - table['CE-tuning'][s] for s in seeds]


def welch(a, b):
    """Mean of ``b`` minus mean of ``a``, its Welch 95 % interval and the
    two-sided p-value (unequal variances, Welch-Satterthwaite df)."""
    from scipy import stats
    diff = statistics.mean(b) - statistics.mean(a)
    va, vb = (statistics.variance(x) / len(x) for x in (a, b))
    se = (va + vb)**0.5
    if se == 0:
        nan = float('nan')
        return dict(diff=diff, ci=(nan, nan), p=nan)
    df = (va + vb)**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return dict(diff=diff, ci=(diff - half, diff + half), p=p)


def compare(tables):
    """Markdown tables for ``[(label, {variant: {seed: final top-1}}),
    ...]``; the first backbone is the reference of the change."""
    variants = sorted((v for v in tables[0][1]
                       if v != 'CE-tuning' and all(v in t for _, t in tables)),
                      key=lambda v: (v != 'Core-tuning', v))
    if not variants:
        raise SystemExit('no Core-tuning variant with final runs in every '
                         'results file')
    lines = [
        '| backbone | CE-tuning top-1 (%) | variant | top-1 (%) | '
        'paired diff. to CE per seed | diff. mean ± std | 95 % CI | '
        'paired t-test p |', '|---|---|---|---|---|---|---|---|'
    ]
    effects = {}
    for label, table in tables:
        for variant in variants:
            seeds, diffs = paired_effects(table, variant)
            if len(diffs) < 2:
                raise SystemExit(f'{label}: {variant} has {len(diffs)} seed '
                                 'paired with CE-tuning; 2 or more needed')
            effects[label, variant] = diffs
            ce = [table['CE-tuning'][s] for s in seeds]
            core = [table[variant][s] for s in seeds]
            lines.append(
                f'| {label} | {fmt(ce)} | {variant} | {fmt(core)} | ' +
                ' | '.join(paired_cells(diffs)) + ' |')
    ref = tables[0][0]
    lines += [
        '', f'Change of the paired effect from {ref} (Welch, backbones '
        'independent):', '',
        '| variant | backbone | effect change (points) | 95 % CI | p |',
        '|---|---|---|---|---|'
    ]
    for variant in variants:
        for label, _ in tables[1:]:
            w = welch(effects[ref, variant], effects[label, variant])
            lines.append(f'| {variant} | {label} | {w["diff"]:+.2f} | '
                         f'[{w["ci"][0]:+.2f}, {w["ci"][1]:+.2f}] | '
                         f'{w["p"]:.3f} |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument(
        'backbones',
        nargs='+',
        metavar='LABEL=RESULTS_JSON',
        help='two or more; the first is the reference')
    parser.add_argument('--out', help='also write the tables here')
    args = parser.parse_args(argv)
    if len(args.backbones) < 2:
        parser.error('two or more LABEL=RESULTS_JSON are needed')
    tables = []
    for item in args.backbones:
        label, sep, path = item.rpartition('=')
        if not sep or not label:
            parser.error(f'{item!r} is not LABEL=RESULTS_JSON')
        if not osp.isfile(path):
            raise SystemExit(f'not found: {path}')
        tables.append((label, {
            variant: {
                seed: rec['top1']
                for seed, rec in seeds.items()
            }
            for variant, seeds in final_runs(path).items()
        }))
    text = compare(tables)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
