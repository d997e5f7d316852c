"""A contrastive pretraining run in one table and one picture: the mean
training loss of every epoch (from mmengine's ``vis_data/scalars.json``, all
of a work dir's runs, so a ``--resume``d run reads as one) and the kNN top-1
of its checkpoints (the JSON that ``knn_eval.py --out`` writes).

    python tools/analysis_tools/knn_eval.py CONFIG random \\
        work_dirs/moco50k/epoch_*.pth --data-root ../shared/data/cifar10-jpg \\
        --out work_dirs/moco50k/knn.json
    python tools/analysis_tools/plot_pretrain_curve.py work_dirs/moco50k \\
        --knn work_dirs/moco50k/knn.json --out checkpoints/moco_curve.png

Prints a markdown table (epoch | mean loss | kNN majority | kNN weighted);
``random`` in the kNN JSON is epoch 0.
"""
import argparse
import glob
import json
import os.path as osp
import re
import statistics


def epoch_losses(work_dir):
    """``{epoch: mean training loss}`` over every logged iteration. A resumed
    run logs again the iterations after its last checkpoint: the later log
    of an iteration wins."""
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}'
                                ' (an mmengine work dir?)')
    by_iter = {}
    for path in files:  # timestamps sort in time order
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec and 'epoch' in rec and 'iter' in rec:
                    by_iter[int(rec['iter'])] = (int(rec['epoch']),
                                                 float(rec['loss']))
    if not by_iter:
        raise ValueError(f'{work_dir}: no training loss logged')
    per_epoch = {}
    for epoch, loss in by_iter.values():
        per_epoch.setdefault(epoch, []).append(loss)
    return {e: statistics.mean(v) for e, v in sorted(per_epoch.items())}


def knn_by_epoch(knn_json):
    """``{epoch: (majority, weighted)}`` from ``knn_eval.py --out``."""
    with open(knn_json) as f:
        results = json.load(f)
    if isinstance(results, dict):
        results = [results]
    out = {}
    for r in results:
        name = osp.basename(str(r['checkpoint']))
        match = re.search(r'epoch_(\d+)', name)
        if r['checkpoint'] == 'random':
            epoch = 0
        elif match:
            epoch = int(match.group(1))
        else:
            raise ValueError(f'{knn_json}: cannot tell the epoch of '
                             f'{r["checkpoint"]!r} (epoch_N.pth or random)')
        out[epoch] = (float(r['majority']), float(r['weighted']))
    return out


def table(losses, knn):
    rows = [
        '| epoch | mean loss | kNN majority (%) | kNN weighted (%) |',
        '|---|---|---|---|'
    ]
    for e in sorted(set(losses) | set(knn)):
        loss = f'{losses[e]:.3f}' if e in losses else ''
        maj, wei = (f'{v:.2f}' for v in knn[e]) if e in knn else ('', '')
        rows.append(f'| {e} | {loss} | {maj} | {wei} |')
    return '\n'.join(rows)


def plot(losses, knn, out, title=None):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(list(losses), list(losses.values()), color='tab:blue')
    ax.set_xlabel('epoch')
    ax.set_ylabel('training loss (mean per epoch)', color='tab:blue')
    if knn:
        ax2 = ax.twinx()
        epochs = sorted(knn)
        ax2.plot(
            epochs, [knn[e][1] for e in epochs],
            'o-',
            color='tab:red',
            label='weighted vote')
        ax2.plot(
            epochs, [knn[e][0] for e in epochs],
            's--',
            color='tab:orange',
            label='majority vote')
        ax2.set_ylabel('kNN top-1 (%)', color='tab:red')
        ax2.legend(loc='center right')
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('work_dir', help='the pretraining work dir')
    parser.add_argument('--knn', help='JSON written by knn_eval.py --out')
    parser.add_argument('--out', help='PNG to write')
    parser.add_argument('--title')
    args = parser.parse_args(argv)
    losses = epoch_losses(args.work_dir)
    knn = knn_by_epoch(args.knn) if args.knn else {}
    text = table(losses, knn)
    print(text)
    if args.out:
        plot(losses, knn, args.out, args.title)
        print(f'wrote {args.out}')
    return losses, knn, text


if __name__ == '__main__':
    main()
