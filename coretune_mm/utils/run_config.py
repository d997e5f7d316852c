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


def init_distributed_without_cuda(cfg: Config) -> bool:
    """Start the process group of a ``--launcher pytorch`` run on a machine
    without a usable CUDA device, before the Runner does.

    mmengine's pytorch launcher calls ``torch.cuda.set_device(local_rank)``
    before ``init_process_group``; on a CUDA build of torch (PyPI's default
    wheel) without a GPU that raises ``Found no NVIDIA driver on your
    system``, on a CPU build ``torch._C`` lacks ``_cuda_setDevice``. The
    Runner initialises nothing when a group exists, so this starts it with
    the config's ``env_cfg.dist_cfg`` (gloo, :func:`build_run_config`) from
    torchrun's environment. Returns whether it started one; a no-op with
    CUDA, another launcher or an existing group.
    """
    import datetime

    import torch.distributed as dist
    if cfg.get('launcher') != 'pytorch' or torch.cuda.is_available() or \
            dist.is_initialized():
        return False
    kwargs = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    backend = kwargs.pop('backend', 'gloo')
    kwargs.pop('init_backend', None)
    if kwargs.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    dist.init_process_group(backend=backend, **kwargs)
    return True


# the keys a Core-tuning head logs beside its losses that contain no "loss":
# mmengine averages "loss" keys over the log window and logs the others'
# current value, so these are given the same window (classification head,
# mmseg decode head, mmseg auxiliary heads)
CORE_LOG_KEYS = ('con_unscaled', 'decode.con_unscaled', 'aux.con_unscaled') + \
    tuple(f'aux_{i}.con_unscaled' for i in range(4))


def smooth_core_log_keys(cfg: Config) -> None:
    """Log ``con_unscaled`` averaged over the same window as ``loss_con``
    (``log_processor.custom_cfg``), so the logged ``loss_con`` is ``eta``
    times the logged ``con_unscaled``. Entries the config already has for
    these keys are kept."""
    processor = cfg.get('log_processor') or {}
    window = processor.get('window_size', 10)
    custom = list(processor.get('custom_cfg') or [])
    taken = {c.get('log_name', c.get('data_src')) for c in custom}
    custom += [
        dict(data_src=key, method_name='mean', window_size=window)
        for key in CORE_LOG_KEYS if key not in taken
    ]
    processor['custom_cfg'] = custom
    cfg.log_processor = processor


def build_run_config(config: str,
                     launcher: str = 'none',
                     work_dir: Optional[str] = None,
                     cfg_options: Optional[dict] = None) -> Config:
    """Load ``config`` the way OpenMMLab's tools do: ``--cfg-options``
    merged, ``work_dir`` defaulting to ``./work_dirs/<config name>``;
    ``con_unscaled`` logged with ``loss_con``'s smoothing
    (:func:`smooth_core_log_keys`)."""
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
    smooth_core_log_keys(cfg)
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


def is_segmentation(cfg: Config) -> bool:
    """An mmseg config (its ``default_scope``), else mmpretrain's."""
    return cfg.get('default_scope') == 'mmseg'


def _evaluators(cfg: Config, key: str = 'test_evaluator') -> list:
    value = cfg.get(key)
    return list(value) if isinstance(value, (list, tuple)) else [value]


def apply_test_flags(cfg: Config,
                     *,
                     show_dir: Optional[str] = None,
                     tta: bool = False,
                     show: bool = False,
                     interval: int = 1,
                     wait_time: float = 2,
                     amp: bool = False,
                     no_pin_memory: bool = False,
                     out: Optional[str] = None,
                     out_item: Optional[str] = None) -> None:
    """mmpretrain's ``tools/test.py`` flags with its semantics for a
    classification config, mmseg's for a segmentation config
    (``default_scope`` decides):

    * ``out``: mmpretrain -- a pickle of the predictions (``out_item``
      ``'pred'``, the default) or a file of the metrics (``'metrics'``; the
      Runner part is :func:`add_test_outputs`); mmseg -- a directory the
      ``IoUMetric`` writes its prediction PNGs into (``output_dir``,
      ``keep_results``), and ``out_item`` is refused.
    * ``show`` / ``show_dir`` / ``interval`` / ``wait_time``: the
      visualization hook on, every ``interval``-th sample (mmpretrain) or
      iteration (mmseg) drawn; a relative ``show_dir`` is placed under the
      run folder (``cfg.work_dir``), not the current directory: mmpretrain
      writes ``work_dir/show_dir/*.png``, mmseg's visualizer
      ``work_dir/show_dir/vis_data/vis_image/*.png``.
    * ``amp``: ``test_cfg.fp16`` (autocast in the test loop).
    * ``no_pin_memory``: ``pin_memory=False`` in the test loader.
    * ``tta``: the config's ``tta_model`` / ``tta_pipeline`` (mmpretrain:
      flip TTA by default).
    """
    seg = is_segmentation(cfg)
    if interval < 1:
        raise ValueError(f'--interval must be >= 1, got {interval}')
    if out_item is not None:
        if seg:
            raise ValueError(
                "--out-item is mmpretrain's: for a segmentation config --out "
                'is the directory the prediction masks are written to')
        if out is None:
            raise ValueError('--out-item needs --out (the file to write)')
    if out is not None:
        if seg:
            metrics = [
                e for e in _evaluators(cfg)
                if isinstance(e, dict) and 'IoUMetric' in str(e.get('type'))
            ]
            if not metrics:
                raise ValueError('--out on a segmentation config needs an '
                                 'IoUMetric in test_evaluator (it writes the '
                                 'predicted masks)')
            for metric in metrics:
                metric.update(output_dir=out, keep_results=True)
        elif out_item in (None, 'pred') and \
                not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out {out}: the predictions are written as a '
                             'pickle, name a .pkl file (or --out-item '
                             'metrics for a json/yaml/pickle of the metrics)')
    if amp:
        cfg.test_cfg = cfg.get('test_cfg') or {}
        cfg.test_cfg['fp16'] = True
    if no_pin_memory and cfg.get('test_dataloader'):
        cfg.test_dataloader['pin_memory'] = False
    if show or show_dir:
        vis = cfg.get('default_hooks', {}).get('visualization')
        if vis is None:
            raise ValueError(
                '--show/--show-dir need default_hooks.visualization=dict('
                "type='VisualizationHook') in the config")
        vis.update(interval=interval, show=show, wait_time=wait_time)
        folder = None
        if show_dir:
            folder = show_dir if osp.isabs(show_dir) else osp.join(
                cfg.work_dir, show_dir)
        if seg:  # mmseg: the hook draws, the visualizer saves
            vis['draw'] = True
            if folder:
                cfg.visualizer['save_dir'] = folder
        else:
            vis['enable'] = True
            if folder:
                vis['out_dir'] = folder
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
    evaluators = _evaluators(cfg)
    kept = [e for e in evaluators if e.get('type') != 'FeatureScatter']
    if len(kept) < len(evaluators):
        warnings.warn('--tta: FeatureScatter (and PooledFeatureHook) left '
                      'out of the test; it measures single-view features')
        cfg.test_evaluator = kept
        cfg.custom_hooks = [
            h for h in cfg.get('custom_hooks', [])
            if h.get('type') != 'PooledFeatureHook'
        ]


def add_test_outputs(runner,
                     cfg: Config,
                     *,
                     out: Optional[str] = None,
                     out_item: Optional[str] = None) -> None:
    """The part of :func:`apply_test_flags` that needs the built Runner:
    mmpretrain's ``--out`` predictions (a ``DumpResults`` metric)."""
    if out is not None and not is_segmentation(cfg) and \
            out_item in (None, 'pred'):
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=out))


def build_model_without_checkpoints(cfg: Config, part: Optional[str] = None):
    """Build ``cfg.model`` outside a Runner, the way the Runner would
    (``custom_imports`` imported, the config's default scope, the top-level
    ``data_preprocessor`` handed to the model), but with every checkpoint
    reference (``pretrained``, ``init_cfg`` of type ``Pretrained``) removed:
    for scripts that load weights themselves or need none. ``part``: build
    only that sub-module of the model config (e.g. ``'backbone'``)."""
    from mmengine.registry import MODELS, init_default_scope
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = copy.deepcopy(cfg.model)  # the caller's cfg stays intact
    model_cfg.pop('pretrained', None)
    for name in ('backbone', 'neck', 'decode_head', 'head'):
        part_cfg = model_cfg.get(name)
        init_cfg = part_cfg.get('init_cfg') if isinstance(part_cfg,
                                                          dict) else None
        if isinstance(init_cfg, (list, tuple)):
            part_cfg['init_cfg'] = [
                i for i in init_cfg if i.get('type') != 'Pretrained'
            ] or None
        elif isinstance(init_cfg, dict) and \
                init_cfg.get('type') == 'Pretrained':
            part_cfg.pop('init_cfg')
    if part is not None:
        return MODELS.build(model_cfg[part])
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
