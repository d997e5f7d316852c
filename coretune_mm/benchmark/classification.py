"""Classification fine-tuning runs of the benchmarks: the CE / Core-tuning
configs and their named variants, dataset presets, the config of one run
(``fine_tune_cfg``) and its validation curve (``read_curve``)."""
import json
import os
import os.path as osp
import sys

from .harness import REPO_ROOT, SHARED, scalars_records, train_loss_curve

CE_CFG = 'configs/coretune/cetune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'
CORE_CFG = 'configs/coretune/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'  # noqa: E501
METHODS = ('CE-tuning', 'Core-tuning')
# the classification head's default before 2026-12-04: the projector drawn
# from N(0, 0.01) too (today: PyTorch's default, as the official code)
OLD_HEAD_INIT = dict(type='Normal', layer='Linear', std=0.01)


def _mixup(**kw):
    return lambda cfg: cfg.model.head.mixup.update(kw)


def _loss(**kw):
    return lambda cfg: cfg.model.head.core_loss.update(kw)


# name -> (method whose schedule it uses, config, edit of the loaded config)
VARIANTS = {
    'CE-tuning': ('CE-tuning', CE_CFG, lambda cfg: None),
    'Core-tuning': ('Core-tuning', CORE_CFG, lambda cfg: None),
    # the official script's choices together: random partner of any class,
    # detached clean rows, the anchor as hard positive (its argmin), clamp
    'Core (official)':
    ('Core-tuning', CORE_CFG,
     _mixup(official=True, hard_positive='anchor', neg_lambda='clamp')),
    'Core w/o hard mixup': ('Core-tuning', CORE_CFG, _mixup(enabled=False)),
    'Core, gamma=0': ('Core-tuning', CORE_CFG, _loss(gamma=0.0)),
    'Core, neg_lambda=rescale':
    ('Core-tuning', CORE_CFG, _mixup(neg_lambda='rescale')),
    'Core, eta=0 (mixed CE only)': ('Core-tuning', CORE_CFG, _loss(eta=0.0)),
    'Core, supcon normaliser': ('Core-tuning', CORE_CFG,
                                _loss(normalizer='supcon')),
    'Core + COIN init (10%)':
    ('Core-tuning', CORE_CFG, lambda cfg: cfg.custom_hooks.append(
        dict(type='ContrastiveInitHook', ratio=0.1))),
    # issue 31's fidelity variants: the head's earlier default init (the
    # projector from N(0, 0.01)); hard positives keyed by their anchor
    'Core, projector N(0, 0.01)':
    ('Core-tuning', CORE_CFG,
     lambda cfg: cfg.model.head.update(init_cfg=dict(OLD_HEAD_INIT))),
    'Core, anchor-class positives': ('Core-tuning', CORE_CFG,
                                     _mixup(hard_positive='anchor_class')),
}
PAPER_ETA = 0.1  # CoreLoss's default, the paper's (official README) weight


def eta_variant(eta):
    """The variant name of Core-tuning at contrastive weight ``eta``
    (``'Core-tuning'`` at the paper's), registered in VARIANTS on first
    use."""
    eta = float(eta)
    if eta == PAPER_ETA:
        return 'Core-tuning'
    name = f'Core, eta={eta:g}'
    VARIANTS.setdefault(name, ('Core-tuning', CORE_CFG, _loss(eta=eta)))
    return name


for _eta in (1.0, 10.0):  # 10: the official script's argparse default
    eta_variant(_eta)

# the final runs: CE, Core at the paper's eta, Core at the selected eta
DEFAULT_VARIANTS = ['CE-tuning', 'Core-tuning', 'selected']

# dataset presets: folder-per-class ``train/`` and ``test/`` under data_root
DATASETS = {
    'cifar10':
    dict(
        data_root=osp.join(SHARED, 'data', 'cifar10-jpg'),
        checkpoint=osp.join(SHARED, 'checkpoints',
                            'mocov2_resnet18w16-cifar10_8e.pth'),
        batch_size=128,
        preprocessor=None),
    # the demo's sklearn digits and its MoCo v2 backbone (tools/demo_digits)
    'digits':
    dict(
        data_root=osp.join(REPO_ROOT, 'work_dirs', 'demo_digits', 'data',
                           'digits32'),
        checkpoint=osp.join(REPO_ROOT, 'work_dirs', 'demo_digits',
                            'backbone.pth'),
        batch_size=64,
        preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False)),
}


def count_images(data_root, split='train'):
    n = sum(len(files) for _, _, files in os.walk(osp.join(data_root, split)))
    if n == 0:
        raise FileNotFoundError(
            f'no images under {osp.join(data_root, split)} (folder-per-class '
            'layout expected)')
    return n


def holdout_indices(num_train, every):
    """(train, held-out) indices of the training split: every ``every``-th
    image (in mmpretrain's sorted, class-grouped order) is held out, so the
    held-out set is stratified."""
    if every < 2:
        raise ValueError(f'--holdout-every must be >= 2, got {every}')
    held = list(range(0, num_train, every))
    train = [i for i in range(num_train) if i % every]
    return train, held


def fine_tune_cfg(variant,
                  *,
                  data_root,
                  checkpoint,
                  work_dir,
                  lr,
                  epochs,
                  batch_size,
                  seed,
                  val_interval,
                  holdout_every=0,
                  preprocessor=None,
                  num_workers=0,
                  train_indices=None,
                  val_indices=None):
    """The fine-tuning config of one run (shared with tools/demo_digits.py).

    ``holdout_every > 0``: train on the training split less every k-th
    image and validate on those; else train on the full training split and
    validate on the test split. Cosine schedule over ``epochs``, validation
    every ``val_interval`` epochs and after the last one.
    """
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
    from mmengine.config import Config
    _, path, edit = VARIANTS[variant]
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    edit(cfg)
    data_root = osp.abspath(data_root)
    if checkpoint is None:
        cfg.model.backbone.init_cfg = None
    else:
        cfg.model.backbone.init_cfg.checkpoint = osp.abspath(checkpoint)
    if preprocessor:
        cfg.data_preprocessor.update(preprocessor)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = data_root
        loader.num_workers = num_workers
        loader.pop('persistent_workers', None)
    if holdout_every and (train_indices is not None
                          or val_indices is not None):
        raise ValueError('holdout_every or train/val indices, not both')
    if train_indices is not None:
        cfg.train_dataloader.dataset.indices = list(train_indices)
    if val_indices is not None:
        if train_indices is not None and set(val_indices) & set(train_indices):
            raise ValueError('val_indices overlap train_indices')
        cfg.val_dataloader.dataset.update(
            data_prefix='train', indices=list(val_indices))
    if holdout_every:
        train_idx, held_idx = holdout_indices(
            count_images(data_root), holdout_every)
        cfg.train_dataloader.dataset.indices = train_idx
        cfg.val_dataloader.dataset.update(
            data_prefix='train', indices=held_idx)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_dataloader.batch_size = batch_size
    cfg.optim_wrapper.optimizer.lr = lr
    cfg.param_scheduler = dict(
        type='CosineAnnealingLR', T_max=epochs, by_epoch=True)
    # mmengine's loop also validates after the last epoch
    cfg.train_cfg = dict(
        by_epoch=True,
        max_epochs=epochs,
        val_interval=min(val_interval, epochs) if val_interval else epochs)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=epochs, save_last=True)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    return cfg


def read_curve(run_dir):
    """Validation records of a run (from mmengine's ``scalars.json``):
    ``[{'epoch', 'top1', 'scatter_ratio'}]`` in order, plus the per-epoch
    mean training loss (and ``loss_con`` with its fraction of the loss
    where the run logs it)."""
    path, records = scalars_records(run_dir)
    curve = [
        dict(
            epoch=int(rec['step']),
            top1=float(rec['accuracy/top1']),
            scatter_ratio=float(rec.get('scatter/ratio', 'nan')))
        for rec in records if 'accuracy/top1' in rec
    ]
    if not curve:
        raise RuntimeError(f'no validation result in {path}')
    return curve, train_loss_curve(records)


def final_runs(path):
    """``{variant: {seed: last validation record}}`` of the final runs in an
    effect benchmark's ``results.json`` / committed ``curves.json``."""
    with open(path) as f:
        runs = json.load(f)
    finals = {}
    for key, run in runs.items():
        parts = [p.strip() for p in key.split('|')]
        if len(parts) == 3 and parts[0] == 'final':
            seed = int(parts[2].split()[-1])
            finals.setdefault(parts[1], {})[seed] = run['curve'][-1]
    return finals
