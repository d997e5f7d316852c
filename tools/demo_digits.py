"""The README's main job: the whole Core-tuning story on embedded real data.

Data: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, 10
classes), upscaled to 32x32 RGB PNGs in a folder-per-class layout, so every
stage goes through mmpretrain's real ``CustomDataset`` pipelines. Nothing is
downloaded. Stages, all under one work dir:

1. ``pretrain/``: MoCo v2 self-supervised pretraining of a narrow CIFAR
   ResNet-18 with mmpretrain's own ``MoCo`` (no labels);
2. ``backbone.pth``: converted with ``tools/convert_csl_checkpoint.py``;
3. ``ce-tuning/`` and ``core-tuning/``: fine-tuning from it with the twin
   configs of ``configs/`` (differing only in the head), each method at the
   (lr, epochs) that the effect benchmark's selection protocol chose on
   held-out *training* digits (``docs/results/digits/selection.json``; the
   test digits were not read to choose it), validated every 5 epochs;
4. ``curves.png`` (learning curves) and ``tsne.png`` (t-SNE of both
   models' pooled test features);
5. ``results.json`` and the printed comparison table.

    python tools/demo_digits.py --work-dir work_dirs/demo_digits
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from PIL import Image  # noqa: E402

from coretune_mm.utils import load_tool  # noqa: E402
from coretune_mm.utils import smooth_core_log_keys  # noqa: E402

SELECTION = osp.join(REPO_ROOT, 'docs', 'results', 'digits', 'selection.json')
SPREAD = osp.join(REPO_ROOT, 'docs', 'results', 'digits', 'curves.json')
CONFIGS = {
    'CE-tuning':
    osp.join(REPO_ROOT, 'configs', 'coretune',
             'cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'),
    'Core-tuning':
    osp.join(REPO_ROOT, 'configs', 'coretune',
             'coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'),
}


def write_digits(root, test_fraction=0.25, seed=0):
    """Write the digits as 32x32 PNGs: ``root/{train,test}/<digit>/*.png``.

    A fixed, stratified split; skipped when already written.
    """
    from sklearn.datasets import load_digits
    done = osp.join(root, '.complete')
    if osp.exists(done):
        return
    digits = load_digits()
    rng = np.random.default_rng(seed)
    for label in range(10):
        idx = np.flatnonzero(digits.target == label)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        for split, part in (('test', idx[:n_test]), ('train', idx[n_test:])):
            folder = osp.join(root, split, str(label))
            os.makedirs(folder, exist_ok=True)
            for i in part:
                img = (digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
                img = Image.fromarray(img).resize((32, 32), Image.BILINEAR)
                img.convert('RGB').save(osp.join(folder, f'{i:04d}.png'))
    open(done, 'w').close()


def moco_cfg(data_root, work_dir, epochs, batch_size, seed):
    """MoCo v2 with mmpretrain's own implementation (as in ../shared's
    checkpoint recipe), sized for the digits on 2 CPU cores."""
    backbone = Config.fromfile(CONFIGS['CE-tuning']).model.backbone
    backbone.pop('init_cfg')
    view = [
        dict(
            type='RandomResizedCrop',
            scale=32,
            crop_ratio_range=(0.3, 1.),
            backend='pillow'),
        dict(
            type='RandomApply',
            prob=0.8,
            transforms=[
                dict(
                    type='ColorJitter',
                    brightness=0.4,
                    contrast=0.4,
                    saturation=0.4,
                    hue=0.0)
            ]),
    ]
    return Config(
        dict(
            default_scope='mmpretrain',
            work_dir=work_dir,
            experiment_name='moco-pretrain',
            model=dict(
                type='MoCo',
                queue_len=1024,
                feat_dim=64,
                momentum=0.01,
                data_preprocessor=dict(
                    type='SelfSupDataPreprocessor',
                    mean=[127.5] * 3,
                    std=[127.5] * 3,
                    to_rgb=False),
                backbone=backbone,
                neck=dict(
                    type='MoCoV2Neck',
                    in_channels=128,
                    hid_channels=256,
                    out_channels=64,
                    with_avg_pool=True),
                head=dict(
                    type='ContrastiveHead',
                    loss=dict(type='CrossEntropyLoss'),
                    temperature=0.2)),
            train_dataloader=dict(
                batch_size=batch_size,
                num_workers=0,
                drop_last=True,
                sampler=dict(type='DefaultSampler', shuffle=True),
                collate_fn=dict(type='default_collate'),
                dataset=dict(
                    type='CustomDataset',
                    data_root=data_root,
                    data_prefix='train',
                    with_label=False,
                    pipeline=[
                        dict(type='LoadImageFromFile'),
                        dict(type='MultiView', num_views=2, transforms=[view]),
                        dict(type='PackInputs')
                    ])),
            optim_wrapper=dict(
                type='OptimWrapper',
                optimizer=dict(
                    type='SGD', lr=0.06, momentum=0.9, weight_decay=5e-4)),
            param_scheduler=[
                dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True)
            ],
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=epochs),
            default_hooks=dict(
                runtime_info=dict(type='RuntimeInfoHook'),
                timer=dict(type='IterTimerHook'),
                logger=dict(type='LoggerHook', interval=10),
                param_scheduler=dict(type='ParamSchedulerHook'),
                checkpoint=dict(type='CheckpointHook', interval=epochs)),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            log_processor=dict(by_epoch=True),
            randomness=dict(seed=seed)))


def run_stage(title):
    print(f'\n===== {title} =====', flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--work-dir', default='work_dirs/demo_digits')
    parser.add_argument('--pretrain-epochs', type=int, default=30)
    parser.add_argument(
        '--schedule',
        default=SELECTION,
        help='selection.json of the effect benchmark on the digits: each '
        "method's chosen lr and epochs")
    parser.add_argument(
        '--epochs', type=int, help='override the chosen epochs (every method)')
    parser.add_argument(
        '--lr', type=float, help='override the chosen lr (every method)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--val-interval', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--no-pretrain',
        action='store_true',
        help='fine-tune from random weights instead')
    parser.add_argument('--no-tsne', action='store_true')
    args = parser.parse_args(argv)
    from coretune_mm.benchmark import effect
    with open(args.schedule) as f:
        selection = json.load(f)
    # CE, Core-tuning at the paper's eta, and at the selected eta if another
    variants = ['CE-tuning', 'Core-tuning']
    if selection.get('chosen_eta') is not None:
        selected = effect.eta_variant(selection['chosen_eta'])
        if selected not in variants:
            variants.append(selected)
    schedules = {}
    for name in variants:
        chosen = selection['chosen'][effect.VARIANTS[name][0]]
        schedules[name] = dict(
            lr=args.lr or chosen['lr'], epochs=args.epochs or chosen['epochs'])

    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.join(work_dir, 'data', 'digits32')
    write_digits(data_root)
    backbone_ckpt = None
    if not args.no_pretrain:
        run_stage('1/4 MoCo v2 pretraining (mmpretrain MoCo, no labels)')
        pre_dir = osp.join(work_dir, 'pretrain')
        Runner.from_cfg(
            moco_cfg(data_root, pre_dir, args.pretrain_epochs, 128,
                     args.seed)).train()
        run_stage('2/4 converting the MoCo checkpoint')
        backbone_ckpt = osp.join(work_dir, 'backbone.pth')
        convert = load_tool('convert_csl_checkpoint')
        if convert.main([
                osp.join(pre_dir, f'epoch_{args.pretrain_epochs}.pth'),
                backbone_ckpt, '--config', CONFIGS['CE-tuning']
        ]) != 0:
            raise SystemExit('checkpoint conversion failed')

    results, ckpts, runs = {}, {}, {}
    for method in variants:
        run_stage(f'3/4 fine-tuning: {method}')
        run_dir = osp.join(work_dir, effect.slug(method.lower()))
        sched = schedules[method]
        cfg = effect.fine_tune_cfg(
            method,
            data_root=data_root,
            checkpoint=backbone_ckpt,
            work_dir=run_dir,
            lr=sched['lr'],
            epochs=sched['epochs'],
            batch_size=args.batch_size,
            seed=args.seed,
            val_interval=args.val_interval,
            preprocessor=effect.DATASETS['digits']['preprocessor'])
        os.makedirs(run_dir, exist_ok=True)
        cfg_path = osp.join(run_dir, 'config.py')
        cfg.dump(cfg_path)  # what t-SNE reads (same normalisation, data)
        smooth_core_log_keys(cfg)  # con_unscaled logged as loss_con is
        t0 = time.time()
        Runner.from_cfg(cfg).train()
        curve, _ = effect.read_curve(run_dir)
        ckpts[method] = (cfg_path,
                         osp.join(run_dir, f'epoch_{sched["epochs"]}.pth'))
        runs[method] = run_dir
        results[method] = dict(
            lr=sched['lr'],
            epochs=sched['epochs'],
            top1=curve[-1]['top1'],
            scatter_ratio=curve[-1]['scatter_ratio'],
            curve=curve,
            train_seconds=round(time.time() - t0, 1))

    curves = load_tool('analysis_tools/plot_learning_curves')
    curves.plot({
        m: [d]
        for m, d in runs.items()
    },
                out=osp.join(work_dir, 'curves.png'),
                split_name='test digits',
                title=f'Digits, seed {args.seed}: each method at its selected '
                'schedule')

    if not args.no_tsne:
        run_stage('4/4 t-SNE of the pooled test features')
        tsne = load_tool('visualize_features')
        tsne.main([
            *[a for m, (c, k) in ckpts.items() for a in ('--model', m, c, k)],
            '--out',
            osp.join(work_dir, 'tsne.png'), '--data-root', data_root,
            '--max-samples', '1000'
        ])

    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    n_test = effect.count_images(data_root, 'test')
    init = ('MoCo v2 pretrained on the digits'
            if backbone_ckpt else 'random init')
    table = format_table(
        results,
        init,
        args.batch_size,
        args.seed,
        n_test,
        selected=args.epochs is None and args.lr is None,
        spread=seed_spread_lines(effect, list(results)))
    with open(osp.join(work_dir, 'table.txt'), 'w') as f:
        f.write(table + '\n')
    print()
    print(table)
    print('train time (s): ' + ', '.join(f'{m} {r["train_seconds"]:.0f}'
                                         for m, r in results.items()))
    print(f'artefacts: {work_dir} (total {time.time() - start:.0f} s)')


def seed_spread_lines(effect, variants, path=SPREAD):
    """How far this single-seed table can move: each variant's mean ± std
    over the committed effect benchmark's seeds (the demo's data, backbone
    recipe and schedules) and the paired difference to CE with its 95 %
    confidence interval -- computed from committed results, so the text is
    the same on every machine."""
    if not osp.exists(path):
        return []
    finals = {
        variant: {
            seed: r['top1']
            for seed, r in seeds.items()
        }
        for variant, seeds in effect.final_runs(path).items()
    }
    rel = osp.relpath(path, REPO_ROOT)
    if not all(len(finals.get(v, {})) >= 2 for v in variants):
        return [
            f'(no multi-seed runs of every method in {rel}: the spread '
            'of this table is unknown)'
        ]
    seeds = sorted(set.intersection(*(set(finals[v]) for v in variants)))
    lines = [
        f'Spread: the same methods over {len(seeds)} seeds ({rel}; runs '
        'of 2026-11-29, the projector then initialised from N(0, 0.01)): ' +
        ', '.join(f'{v} {effect.fmt([finals[v][s] for s in seeds])}'
                  for v in variants)
    ]
    for v in variants[1:]:
        st = effect.paired_stats(
            [finals[v][s] - finals['CE-tuning'][s] for s in seeds])
        lines.append(
            f'{v} - CE-tuning, paired over seeds: {st["mean"]:+.2f}, 95 % CI '
            f'[{st["ci"][0]:+.2f}, {st["ci"][1]:+.2f}], p = {st["p"]:.3f}')
    lines.append('A single-seed gap inside that interval is seed noise; a '
                 'CPU model with other float rounding moves the rows above '
                 'like another seed would.')
    return lines


def format_table(results,
                 init,
                 batch_size,
                 seed,
                 n_test,
                 selected=True,
                 spread=()):
    """The comparison table the demo prints and the README shows
    (deterministic on one machine: no timings; ``tools/check_readme_demo.py``
    compares the two, top-1 and scatter within the seed spread)."""
    how = ('the lr/epochs chosen on held-out training digits' if selected else
           'lr/epochs given on the command line (not selected)')
    lines = [
        f'Digits (sklearn, 32x32), ResNet-18 w16 from {init}; batch '
        f'{batch_size}, seed {seed}; each method at {how}; top-1 on the '
        f'{n_test} test digits after the last epoch',
        f'{"method":<12} {"lr":>5} {"epochs":>6} {"top-1 (%)":>10} '
        f'{"scatter ratio":>14}'
    ]
    for method, r in results.items():
        lines.append(f'{method:<12} {r["lr"]:>5} {r["epochs"]:>6} '
                     f'{r["top1"]:>10.2f} {r["scatter_ratio"]:>14.3f}')
    return '\n'.join(lines + list(spread))


if __name__ == '__main__':
    main()
