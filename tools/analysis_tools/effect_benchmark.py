"""Effect benchmark: CE-tuning vs Core-tuning (and ablations) fine-tuning the
real MoCo-v2 checkpoint of ../shared on CIFAR-10 JPEGs, several seeds, same
schedule and budget; top-1 and feature scatter on the test split.

    python tools/analysis_tools/effect_benchmark.py --epochs 8 --seeds 0 1 2 \\
        --work-dir work_dirs/effect

Each run is ``tools/train.py`` on a dumped config (a fresh process), the
numbers are the final validation of each run. No hyper-parameter is tuned
here: every variant uses the paper's values (eta 0.1, t 0.07, alpha 1).
``--holdout N`` validates on N held-out *training* images instead of the
test split (for any tuning).
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CE_CFG = 'configs/cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'
CORE_CFG = 'configs/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'

# name -> (config, function editing the loaded config)
VARIANTS = {
    'CE-tuning': (CE_CFG, lambda cfg: None),
    'Core-tuning': (CORE_CFG, lambda cfg: None),
    'Core w/o hard mixup': (
        CORE_CFG, lambda cfg: cfg.model.head.mixup.update(enabled=False)),
    'Core, gamma=0': (
        CORE_CFG, lambda cfg: cfg.model.head.loss.update(gamma=0.0)),
    'Core, official choices': (
        CORE_CFG, lambda cfg: cfg.model.head.mixup.update(official=True)),
    # investigation rows (not in the default set)
    'Core, eta=0 (mixed CE only)': (
        CORE_CFG, lambda cfg: cfg.model.head.loss.update(eta=0.0)),
    'Core, supcon normaliser': (
        CORE_CFG, lambda cfg: cfg.model.head.loss.update(normalizer='supcon')),
    'Core + COIN init (10%)': (
        CORE_CFG, lambda cfg: cfg.custom_hooks.append(
            dict(type='ContrastiveInitHook', ratio=0.1))),
}

DEFAULT_VARIANTS = [
    'CE-tuning', 'Core-tuning', 'Core w/o hard mixup', 'Core, gamma=0',
    'Core, official choices', 'Core + COIN init (10%)'
]


def build_cfg(name, args, seed, work_dir):
    sys.path.insert(0, REPO_ROOT)
    from mmengine.config import Config
    path, edit = VARIANTS[name]
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    edit(cfg)
    data_root = osp.abspath(args.data_root)
    cfg.model.backbone.init_cfg.checkpoint = osp.abspath(args.checkpoint)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.val_dataloader.dataset.data_root = data_root
    if args.holdout:
        # every k-th training image is held out for validation
        step = max(2, 5000 // args.holdout)
        train_idx = [i for i in range(5000) if i % step]
        cfg.train_dataloader.dataset.indices = train_idx
        cfg.val_dataloader.dataset.update(
            data_prefix='train', indices=list(range(0, 5000, step)))
    cfg.train_dataloader.batch_size = args.batch_size
    cfg.train_cfg = dict(
        by_epoch=True, max_epochs=args.epochs, val_interval=args.epochs)
    cfg.param_scheduler = dict(
        type='CosineAnnealingLR', T_max=args.epochs, by_epoch=True)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=args.epochs)
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    return cfg


def final_metrics(work_dir):
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))
    last = None
    with open(runs[-1]) as f:
        for line in f:
            rec = json.loads(line)
            if 'accuracy/top1' in rec:
                last = rec
    if last is None:
        raise RuntimeError(f'no validation result in {runs[-1]}')
    return {k: last[k] for k in ('accuracy/top1', 'scatter/intra',
                                 'scatter/inter', 'scatter/ratio')
            if k in last}


def fmt(values, digits=2):
    if len(values) == 1:
        return f'{values[0]:.{digits}f}'
    return (f'{statistics.mean(values):.{digits}f} ± '
            f'{statistics.stdev(values):.{digits}f}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/effect')
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--variants', nargs='+', default=DEFAULT_VARIANTS,
                        choices=list(VARIANTS))
    parser.add_argument('--holdout', type=int, default=0)
    parser.add_argument('--data-root',
                        default=osp.join(REPO_ROOT, '..', 'shared', 'data',
                                         'cifar10-jpg'))
    parser.add_argument('--checkpoint',
                        default=osp.join(REPO_ROOT, '..', 'shared',
                                         'checkpoints',
                                         'mocov2_resnet18w16-cifar10_8e.pth'))
    args = parser.parse_args(argv)

    work_root = osp.abspath(args.work_dir)
    os.makedirs(work_root, exist_ok=True)
    results_path = osp.join(work_root, 'results.json')
    results = {}
    if osp.exists(results_path):  # re-runs skip finished runs
        with open(results_path) as f:
            results = json.load(f)
    for name in args.variants:
        for seed in args.seeds:
            key = f'{name} | seed {seed}'
            if key in results:
                continue
            run_dir = osp.join(
                work_root, name.replace(' ', '_').replace('/', '-') +
                f'_seed{seed}')
            cfg = build_cfg(name, args, seed, run_dir)
            os.makedirs(run_dir, exist_ok=True)
            cfg_path = osp.join(run_dir, 'config.py')
            cfg.dump(cfg_path)
            print(f'[effect] {key}: training ...', flush=True)
            subprocess.run([
                sys.executable,
                osp.join(REPO_ROOT, 'tools', 'train.py'), cfg_path,
                '--work-dir', run_dir
            ], check=True, stdout=subprocess.DEVNULL, cwd=REPO_ROOT)
            results[key] = final_metrics(run_dir)
            print(f'[effect] {key}: {results[key]}', flush=True)
            with open(results_path, 'w') as f:
                json.dump(results, f, indent=2)

    split = (f'{args.holdout} held-out train images' if args.holdout else
             'test split (2,000 images)')
    lines = [
        f'| variant | top-1 (%) | scatter ratio (intra/inter) | runs |',
        '|---|---|---|---|'
    ]
    for name in args.variants:
        rows = [results[f'{name} | seed {s}'] for s in args.seeds]
        lines.append(
            f'| {name} | {fmt([r["accuracy/top1"] for r in rows])} | '
            f'{fmt([r["scatter/ratio"] for r in rows], 3)} | {len(rows)} |')
    table = '\n'.join(lines)
    print(f'\n{args.epochs} epochs, batch {args.batch_size}, seeds '
          f'{args.seeds}, evaluated on the {split}; mean ± std\n')
    print(table)
    with open(osp.join(work_root, 'table.md'), 'w') as f:
        f.write(table + '\n')
    return results


if __name__ == '__main__':
    main()
