"""Config set-up shared by tools/train.py, tools/test.py and the scripts."""
import copy
import os.path as osp
import warnings
from typing import Optional

import torch
from mmengine.config import Config


def _replace_sync_bn(node) -> int:
    count = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_sync_bn(value)
    return count


def use_cpu_distributed_defaults(cfg: Config) -> None:
    """Make a distributed config run on CPU processes (no CUDA): the gloo
    backend, DDP without ``device_ids``, and ``BN`` for ``SyncBN`` (PyTorch's
    SyncBatchNorm is GPU-only). Each change is announced."""
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') != 'gloo':
        warnings.warn('no CUDA device: using the gloo backend for the '
                      'distributed run')
        dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    replaced = _replace_sync_bn(cfg.model)
    if replaced:
        warnings.warn(f'no CUDA device: {replaced} SyncBN norm config(s) '
                      'replaced by BN (SyncBatchNorm is GPU-only)')


def build_run_config(config: str,
                     launcher: str = 'none',
                     work_dir: Optional[str] = None,
                     cfg_options: Optional[dict] = None) -> Config:
    """Load ``config`` the way OpenMMLab's tools do: ``--cfg-options``
    merged, ``work_dir`` defaulting to ``./work_dirs/<config name>``."""
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    if launcher != 'none' and not torch.cuda.is_available():
        use_cpu_distributed_defaults(cfg)
    return cfg


def apply_train_flags(cfg: Config,
                      *,
                      no_validate: bool = False,
                      auto_scale_lr: bool = False,
                      no_pin_memory: bool = False,
                      no_persistent_workers: bool = False) -> None:
    """mmpretrain ``tools/train.py``'s flags, with its semantics, for any
    config (mmpretrain or mmseg)."""
    if no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if auto_scale_lr:
        scale = cfg.get('auto_scale_lr')
        if not scale or not scale.get('base_batch_size'):
            raise ValueError(
                '--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=N) '
                'in the config: the total batch size its lr was set for')
        scale.enable = True
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field)
        if not loader:
            continue
        if no_pin_memory:
            loader['pin_memory'] = False
        if no_persistent_workers:
            loader['persistent_workers'] = False


def apply_test_flags(cfg: Config,
                     *,
                     show_dir: Optional[str] = None,
                     tta: bool = False) -> None:
    """``--show-dir`` and ``--tta`` as mmpretrain's ``tools/test.py`` does
    them for a classification config and mmseg's for a segmentation config
    (``default_scope`` decides)."""
    seg = cfg.get('default_scope') == 'mmseg'
    if show_dir:
        vis = cfg.get('default_hooks', {}).get('visualization')
        if vis is None:
            raise ValueError(
                "--show-dir needs default_hooks.visualization=dict(type="
                "'VisualizationHook') in the config")
        if seg:  # mmseg: the hook draws, the visualizer saves
            vis['draw'] = True
            cfg.visualizer['save_dir'] = show_dir
        else:
            vis.update(enable=True, out_dir=show_dir)
    if not tta:
        return
    if seg:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError('--tta needs tta_model and tta_pipeline in the '
                             "config (mmseg's dataset configs define them)")
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
        return
    if 'tta_model' not in cfg:
        cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
    if 'tta_pipeline' not in cfg:  # mmpretrain's default: flip / no flip
        pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
        pipeline[-1] = dict(
            type='TestTimeAug',
            transforms=[[
                dict(type='RandomFlip', prob=1.),
                dict(type='RandomFlip', prob=0.)
            ], [cfg.test_dataloader.dataset.pipeline[-1]]])
        cfg.tta_pipeline = pipeline
    cfg.model = dict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    # the feature scatter is of one view's pooled features: not defined for
    # the averaged TTA scores
    evaluators = cfg.test_evaluator if isinstance(
        cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
    kept = [e for e in evaluators if e.get('type') != 'FeatureScatter']
    if len(kept) < len(evaluators):
        warnings.warn('--tta: FeatureScatter (and PooledFeatureHook) left '
                      'out of the test; it measures single-view features')
        cfg.test_evaluator = kept
        cfg.custom_hooks = [
            h for h in cfg.get('custom_hooks', [])
            if h.get('type') != 'PooledFeatureHook'
        ]


def build_model_without_checkpoints(cfg: Config):
    """Build ``cfg.model`` outside a Runner, the way the Runner would
    (``custom_imports`` imported, the config's default scope, the top-level
    ``data_preprocessor`` handed to the model), but with every checkpoint
    reference (``pretrained``, ``init_cfg`` of type ``Pretrained``) removed:
    for scripts that load weights themselves or need none."""
    from mmengine.registry import MODELS, init_default_scope
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = copy.deepcopy(cfg.model)  # the caller's cfg stays intact
    model_cfg.pop('pretrained', None)
    for part in ('backbone', 'neck', 'decode_head', 'head'):
        part_cfg = model_cfg.get(part)
        init_cfg = part_cfg.get('init_cfg') if isinstance(part_cfg,
                                                          dict) else None
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            part_cfg.pop('init_cfg')
    if cfg.get('data_preprocessor'):
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


def finish_distributed() -> None:
    """End a distributed run cleanly: every rank waits for the others, then
    the process group is destroyed before the interpreter exits (leaving it
    to interpreter teardown can abort a gloo rank whose peer has already
    gone: "terminate called without an active exception"). No-op in a
    single process."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
