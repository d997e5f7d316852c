"""The README's main job: the whole Core-tuning story on embedded real data.

Data: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, 10
classes), upscaled to 32x32 RGB PNGs in a folder-per-class layout, so every
stage goes through mmpretrain's real ``CustomDataset`` pipelines. Nothing is
downloaded. Stages, all under one work dir:

1. ``pretrain/``: MoCo v2 self-supervised pretraining of a narrow CIFAR
   ResNet-18 with mmpretrain's own ``MoCo`` (no labels);
2. ``backbone.pth``: converted with ``tools/convert_csl_checkpoint.py``;
3. ``ce-tuning/`` and ``core-tuning/``: fine-tuning from it with the twin
   configs of ``configs/`` (differing only in the head), evaluated for top-1
   and feature scatter (intra/inter-class, lower is tighter);
4. ``tsne.png``: t-SNE of both models' pooled test features;
5. ``results.json`` and the printed comparison table.

    python tools/demo_digits.py --work-dir work_dirs/demo_digits
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')

import numpy as np  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from PIL import Image  # noqa: E402

CONFIGS = {
    'CE-tuning':
    osp.join(REPO_ROOT, 'configs',
             'cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'),
    'Core-tuning':
    osp.join(REPO_ROOT, 'configs',
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
        dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.3, 1.),
             backend='pillow'),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.0)]),
    ]
    return Config(dict(
        default_scope='mmpretrain',
        work_dir=work_dir,
        experiment_name='moco-pretrain',
        model=dict(
            type='MoCo', queue_len=1024, feat_dim=64, momentum=0.01,
            data_preprocessor=dict(type='SelfSupDataPreprocessor',
                                   mean=[127.5] * 3, std=[127.5] * 3,
                                   to_rgb=False),
            backbone=backbone,
            neck=dict(type='MoCoV2Neck', in_channels=128, hid_channels=256,
                      out_channels=64, with_avg_pool=True),
            head=dict(type='ContrastiveHead',
                      loss=dict(type='CrossEntropyLoss'), temperature=0.2)),
        train_dataloader=dict(
            batch_size=batch_size, num_workers=0, drop_last=True,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='CustomDataset', data_root=data_root,
                         data_prefix='train', with_label=False,
                         pipeline=[dict(type='LoadImageFromFile'),
                                   dict(type='MultiView', num_views=2,
                                        transforms=[view]),
                                   dict(type='PackInputs')])),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(
            type='SGD', lr=0.06, momentum=0.9, weight_decay=5e-4)),
        param_scheduler=[dict(type='CosineAnnealingLR', T_max=epochs,
                              by_epoch=True)],
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


def demo_cfg(path, data_root, work_dir, epochs, batch_size, seed,
             backbone_ckpt, lr):
    cfg = Config.fromfile(path)
    cfg.optim_wrapper.optimizer.lr = lr
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    if backbone_ckpt is None:
        cfg.model.backbone.init_cfg = None
    else:
        cfg.model.backbone.init_cfg.checkpoint = backbone_ckpt
    cfg.data_preprocessor.update(
        mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = data_root
        loader.num_workers = 0
        loader.pop('persistent_workers', None)
    cfg.train_dataloader.batch_size = batch_size
    cfg.test_dataloader = cfg.val_dataloader
    cfg.param_scheduler = dict(
        type='CosineAnnealingLR', T_max=epochs, by_epoch=True)
    # validated once, after training (below)
    cfg.train_cfg = dict(
        by_epoch=True, max_epochs=epochs, val_interval=epochs + 1)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=epochs)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    cfg.randomness = dict(seed=seed)
    return cfg


def run_stage(title):
    print(f'\n===== {title} =====', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo_digits')
    parser.add_argument('--pretrain-epochs', type=int, default=30)
    parser.add_argument('--epochs', type=int, default=15)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument(
        '--lr', type=float, default=0.05,
        help='fine-tuning lr (the configs use the paper\'s 0.01, made for '
        'strong ImageNet models and batch 256)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-pretrain', action='store_true',
                        help='fine-tune from random weights instead')
    parser.add_argument('--no-tsne', action='store_true')
    args = parser.parse_args()

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

    results, ckpts = {}, {}
    for method, path in CONFIGS.items():
        run_stage(f'3/4 fine-tuning: {method}')
        run_dir = osp.join(work_dir, method.lower())
        cfg = demo_cfg(path, data_root, run_dir, args.epochs,
                       args.batch_size, args.seed, backbone_ckpt, args.lr)
        os.makedirs(run_dir, exist_ok=True)
        cfg_path = osp.join(run_dir, 'config.py')
        cfg.dump(cfg_path)  # what t-SNE reads (same normalisation, data)
        t0 = time.time()
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.val_loop.run()
        ckpts[method] = (cfg_path,
                         osp.join(run_dir, f'epoch_{args.epochs}.pth'))
        results[method] = dict(
            top1=float(metrics['accuracy/top1']),
            scatter_ratio=float(metrics['scatter/ratio']),
            train_seconds=round(time.time() - t0, 1))

    if not args.no_tsne:
        run_stage('4/4 t-SNE of the pooled test features')
        tsne = load_tool('visualize_features')
        tsne.main([
            *[a for m, (c, k) in ckpts.items() for a in ('--model', m, c, k)],
            '--out', osp.join(work_dir, 'tsne.png'), '--data-root',
            data_root, '--max-samples', '1000'
        ])

    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    n_test = len(glob.glob(osp.join(data_root, 'test', '*', '*.png')))
    init = ('MoCo v2 pretrained on the digits' if backbone_ckpt else
            'random init')
    print(f'\nDigits (sklearn, 32x32), ResNet-18 w16 from {init}; '
          f'fine-tuned {args.epochs} epochs, batch {args.batch_size}, lr '
          f'{args.lr}, seed '
          f'{args.seed}; evaluated on {n_test} held-out digits')
    print(f'{"method":<12} {"top-1 (%)":>10} {"scatter ratio":>14} '
          f'{"time (s)":>9}')
    for method, r in results.items():
        print(f'{method:<12} {r["top1"]:>10.2f} {r["scatter_ratio"]:>14.3f} '
              f'{r["train_seconds"]:>9.1f}')
    print(f'artefacts: {work_dir} (total {time.time() - start:.0f} s)')


def load_tool(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        f'coretune_demo_{name}', osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == '__main__':
    main()
