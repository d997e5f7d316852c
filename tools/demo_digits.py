"""The README's main job: CE-tuning vs Core-tuning on embedded real data.

Data: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, 10
classes), upscaled to 32x32 RGB PNGs in a folder-per-class layout, so the run
goes through mmpretrain's real ``CustomDataset`` pipeline. Nothing is
downloaded. Both runs use the same config (the CIFAR ResNet-18 w16 twins in
``configs/``), differing only in the head; the backbone starts from random
weights here (no CSL checkpoint is embedded).

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


def demo_cfg(path, data_root, work_dir, epochs, batch_size, seed):
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    cfg.model.backbone.init_cfg = None  # no CSL checkpoint is embedded
    cfg.data_preprocessor.update(
        mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = data_root
        loader.num_workers = 0
        loader.pop('persistent_workers', None)
    cfg.train_dataloader.batch_size = batch_size
    cfg.test_dataloader = cfg.val_dataloader
    cfg.optim_wrapper.optimizer.lr = 0.05
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo_digits')
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    work_dir = osp.abspath(args.work_dir)
    data_root = osp.join(work_dir, 'data', 'digits32')
    write_digits(data_root)
    results = {}
    for method, path in CONFIGS.items():
        run_dir = osp.join(work_dir, method.lower())
        cfg = demo_cfg(path, data_root, run_dir, args.epochs,
                       args.batch_size, args.seed)
        start = time.time()
        runner = Runner.from_cfg(cfg)
        runner.train()
        metrics = runner.val_loop.run()
        results[method] = dict(
            top1=float(metrics['accuracy/top1']),
            train_seconds=round(time.time() - start, 1))

    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    print('\nDigits (sklearn, 32x32), ResNet-18 w16 from random init, '
          f'{args.epochs} epochs, batch {args.batch_size}, seed {args.seed}')
    print(f'{"method":<12} {"top-1 (%)":>10} {"time (s)":>9}')
    for method, r in results.items():
        print(f'{method:<12} {r["top1"]:>10.2f} {r["train_seconds"]:>9.1f}')
    print(f'results: {osp.join(work_dir, "results.json")}')


if __name__ == '__main__':
    main()
