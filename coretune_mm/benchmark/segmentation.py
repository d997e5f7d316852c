"""Segmentation benchmark: CE-tuning vs Core-tuning of DeepLabV3+ on CamVid
(``configs/camvid``), the schedule chosen on the val split, the test split
read once per final run.

1. **Selection** (seed ``--select-seed``): each method trains every lr of
   ``--lrs`` for every iteration count of ``--iters-grid`` (a separate poly
   schedule each) and is validated on the val split every
   ``--val-interval`` iterations (learning curves); it keeps the (lr,
   iterations) of its best final val mIoU (ties: fewer iterations, then the
   smaller lr). The test split is not read.
2. **Final runs**: each method at its chosen schedule for each seed of
   ``--seeds``, validated on the val split during training; after the last
   iteration the final checkpoint is tested once on the test split
   (``tools/test.py``): mIoU and per-class IoU. Per method: mean ± std;
   per-seed paired differences of Core to CE with 95 % CI and p.

Finished runs are cached in ``results.json``; ``report.md`` and
``summary.json`` are written from what has finished.
"""
import argparse
import json
import os
import os.path as osp
import re
import sys

from .harness import (REPO_ROOT, SHARED, Runs, fmt, grid_choice, paired_cells,
                      run_tool, scalars_records, shown, slug)

CONFIGS = {
    'CE-tuning':
    'configs/camvid/cetune_deeplabv3plus_r18w16-mocov2_1xb8-2k_camvid-'
    '160x120.py',
    'Core-tuning':
    'configs/camvid/coretune_deeplabv3plus_r18w16-mocov2_1xb8-2k_camvid-'
    '160x120.py',
}
METHODS = tuple(CONFIGS)


def seg_cfg(method,
            *,
            work_dir,
            lr,
            iters,
            seed,
            val_interval,
            data_root=None,
            checkpoint=None,
            batch_size=None):
    """The config of one run: ``method``'s CamVid config at ``lr`` and
    ``iters`` (poly schedule over them), validated on the val split every
    ``val_interval`` iterations and after the last."""
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, CONFIGS[method]))
    if data_root is not None:
        for loader in (cfg.train_dataloader, cfg.val_dataloader,
                       cfg.test_dataloader):
            loader.dataset.data_root = osp.abspath(data_root)
    else:
        for loader in (cfg.train_dataloader, cfg.val_dataloader,
                       cfg.test_dataloader):
            loader.dataset.data_root = osp.abspath(
                osp.join(REPO_ROOT, loader.dataset.data_root))
    init = cfg.model.backbone.init_cfg
    if checkpoint is not None:
        init.checkpoint = osp.abspath(checkpoint)
    elif not osp.isabs(init.checkpoint):
        init.checkpoint = osp.join(REPO_ROOT, init.checkpoint)
    if batch_size:
        cfg.train_dataloader.batch_size = batch_size
    cfg.optim_wrapper.optimizer.lr = lr
    cfg.param_scheduler[0].end = iters
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop',
        max_iters=iters,
        val_interval=min(val_interval, iters))
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=iters,
        max_keep_ckpts=1)
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    return cfg


def read_seg_curve(run_dir):
    """``([{'iter', 'mIoU', 'aAcc'}], [{'iter', 'loss', ...}])``: the val
    readings and the logged training losses of a run."""
    path, records = scalars_records(run_dir)
    curve = [
        dict(
            iter=int(r['step']),
            epoch=int(r['step']),
            mIoU=float(r['mIoU']),
            aAcc=float(r['aAcc'])) for r in records if 'mIoU' in r
    ]
    if not curve:
        raise RuntimeError(f'no validation result in {path}')
    train = []
    for r in records:
        if 'loss' in r and 'step' in r:
            row = dict(iter=int(r['step']), loss=float(r['loss']))
            if 'decode.loss_con' in r:
                row['loss_con'] = float(r['decode.loss_con'])
                row['con_fraction'] = row['loss_con'] / row['loss']
            train.append(row)
    return curve, train


PER_CLASS_ROW = re.compile(r'^\|\s*([^|]+?)\s*\|\s*([0-9.]+|nan)\s*\|\s*'
                           r'([0-9.]+|nan)\s*\|$')


def parse_per_class(log_text):
    """``{class: IoU}`` of the last ``per class results`` table of an mmseg
    log."""
    start = log_text.rfind('per class results')
    if start < 0:
        raise RuntimeError('no per-class results in the log')
    out = {}
    for line in log_text[start:].splitlines()[1:]:
        line = line.split(' - INFO - ')[-1].strip()
        m = PER_CLASS_ROW.match(line)
        if m and m.group(1) != 'Class':
            out[m.group(1)] = float(m.group(2))
        elif out and line.startswith('+'):
            break
    if not out:
        raise RuntimeError('empty per-class table in the log')
    return out


def test_once(run_dir, threads=None):
    """Test a final run's last checkpoint on the test split with
    ``tools/test.py``: ``dict(mIoU, aAcc, per_class)``."""
    ckpts = sorted(
        f for f in os.listdir(run_dir)
        if f.startswith('iter_') and f.endswith('.pth'))
    if not ckpts:
        raise RuntimeError(f'no iter_*.pth checkpoint in {run_dir}')
    ckpt = max(ckpts, key=lambda f: int(f[5:-4]))
    log_path = osp.join(run_dir, 'test.log')
    run_tool('test.py', [
        osp.join(run_dir, 'config.py'),
        osp.join(run_dir, ckpt), '--work-dir',
        osp.join(run_dir, 'test')
    ], log_path, threads)
    with open(log_path) as f:
        text = f.read()
    m = re.findall(r'aAcc: ([0-9.]+)\s+mIoU: ([0-9.]+)', text)
    if not m:
        raise RuntimeError(f'no test mIoU in {log_path}')
    return dict(
        aAcc=float(m[-1][0]),
        mIoU=float(m[-1][1]),
        per_class=parse_per_class(text),
        checkpoint=ckpt)


def _read_and_test(run_dir):
    curve, train = read_seg_curve(run_dir)
    if osp.basename(osp.dirname(run_dir)) == 'final':
        curve[-1]['test'] = test_once(run_dir, threads=1)
    return curve, train


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='seg_benchmark.py',
        description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--work-dir', default='work_dirs/seg_camvid')
    parser.add_argument(
        '--data-root', default=osp.join(SHARED, 'data', 'camvid'))
    parser.add_argument(
        '--checkpoint',
        help='backbone checkpoint (default: '
        "the configs' committed MoCo v2 one)")
    parser.add_argument('--lrs', type=float, nargs='+', default=[0.05])
    parser.add_argument(
        '--iters-grid', type=int, nargs='+', default=[1000, 2000])
    parser.add_argument('--val-interval', type=int, default=250)
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--select-seed', type=int, default=100)
    parser.add_argument('--select-only', action='store_true')
    parser.add_argument('--jobs', type=int, default=1)
    args = parser.parse_args(argv)
    if not osp.isdir(args.data_root):
        raise SystemExit(f'not found: {args.data_root}')
    if args.checkpoint and not osp.exists(args.checkpoint):
        raise SystemExit(f'not found: {args.checkpoint}')
    root = osp.abspath(args.work_dir)
    os.makedirs(root, exist_ok=True)
    runs = Runs(root, args.jobs, _read_and_test, metric='mIoU')

    def job(stage, key, method, lr, iters, seed):
        run_dir = osp.join(root, stage, slug(key))
        return {
            key: (lambda: seg_cfg(
                method,
                work_dir=run_dir,
                lr=lr,
                iters=iters,
                seed=seed,
                val_interval=args.val_interval,
                data_root=args.data_root,
                checkpoint=args.checkpoint,
                batch_size=args.batch_size), run_dir)
        }

    def select_key(method, lr, iters):
        return (f'select | {method} | lr {lr} | {iters} it | '
                f'seed {args.select_seed}')

    todo = {}
    for method in METHODS:
        for lr in args.lrs:
            for iters in args.iters_grid:
                todo.update(
                    job('select', select_key(method, lr, iters), method, lr,
                        iters, args.select_seed))
    done = runs.run(todo)
    grid, chosen = grid_choice(
        METHODS,
        [dict(lr=lr, iters=it) for lr in args.lrs for it in args.iters_grid],
        'val_mIoU', lambda m, p: done[select_key(m, p['lr'], p['iters'])][
            'curve'][-1]['mIoU'], lambda r: (-r['iters'], -r['lr']))
    lines = [
        f'CamVid ({shown(args.data_root)}): selection on the val split, '
        f'seed {args.select_seed}; rule: highest final val mIoU, ties fewer '
        'iterations then smaller lr. The test split is read once per final '
        'run.\n', '| method | lr | iterations | val mIoU (%) |',
        '|---|---|---|---|'
    ]
    for r in grid:
        mark = ' **chosen**' if r is chosen[r['method']] else ''
        lines.append(f'| {r["method"]} | {r["lr"]} | {r["iters"]} | '
                     f'{r["val_mIoU"]:.2f}{mark} |')
    summary = dict(grid=grid, chosen=chosen)
    if not args.select_only:
        todo = {}
        for method in METHODS:
            c = chosen[method]
            for seed in args.seeds:
                todo.update(
                    job('final', f'final | {method} | seed {seed}', method,
                        c['lr'], c['iters'], seed))
        done = runs.run(todo)
        lines += final_tables(done, args.seeds)
        summary['finals'] = {
            k: v['curve'][-1]['test']
            for k, v in done.items()
        }
    text = '\n'.join(lines)
    print('\n' + text, flush=True)
    with open(osp.join(root, 'report.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(root, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return runs.results


def fmt_present(values):
    """``fmt`` of the finite values (mmseg reports ``nan`` for a class
    absent from the split); ``'—'`` when none is."""
    finite = [v for v in values if v == v]
    if not finite:
        return '—'
    return fmt(finite) + ('' if len(finite) == len(values) else
                          f' ({len(finite)} of {len(values)} runs)')


def final_tables(done, seeds):
    """Test mIoU per method with the paired difference, and per-class IoU
    (mean over seeds)."""
    test = {
        m: {
            s: done[f'final | {m} | seed {s}']['curve'][-1]['test']
            for s in seeds
        }
        for m in METHODS
    }
    lines = [
        '\nFinal runs, test split (read once per run); mean ± std over '
        f'seeds {seeds}.\n', '| method | test mIoU (%) | paired diff. to CE '
        'per seed | mean ± std | 95 % CI | p |', '|---|---|---|---|---|---|'
    ]
    ce = [test['CE-tuning'][s]['mIoU'] for s in seeds]
    for m in METHODS:
        values = [test[m][s]['mIoU'] for s in seeds]
        cells = ('—', ) * 4
        if m != 'CE-tuning' and len(seeds) > 1:
            cells = paired_cells([v - c for v, c in zip(values, ce)])
        lines.append(f'| {m} | {fmt(values)} | ' + ' | '.join(cells) + ' |')
    classes = list(test['CE-tuning'][seeds[0]]['per_class'])
    lines += [
        '\n| class | ' + ' | '.join(METHODS) + ' |',
        '|---|' + '---|' * len(METHODS)
    ]
    for c in classes:
        lines.append(f'| {c} | ' + ' | '.join(
            fmt_present([test[m][s]['per_class'][c] for s in seeds])
            for m in METHODS) + ' |')
    return lines


__all__ = [
    'CONFIGS', 'METHODS', 'seg_cfg', 'read_seg_curve', 'parse_per_class',
    'test_once', 'main'
]
