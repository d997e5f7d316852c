"""Whether a checkpoint fits a model, key for key and shape for shape --
checked before training or exporting, so a wrong checkpoint is refused with
a report instead of a warning and a run from random weights."""
from typing import Dict, List, Mapping

import torch


def state_mismatch(expected: Mapping[str, torch.Tensor],
                   state: Mapping[str, torch.Tensor],
                   allow_missing_counters: bool = False) -> List[str]:
    """What keeps ``state`` from loading strictly into a module whose
    ``state_dict()`` is ``expected``: one line each for the missing keys,
    the unexpected keys and the shape mismatches (up to five named), empty
    when it loads. ``allow_missing_counters``: BN ``num_batches_tracked``
    counters absent from the checkpoint are not counted (older releases
    lack them; they carry no learned value)."""
    missing = sorted(
        k for k in set(expected) - set(state)
        if not (allow_missing_counters and k.endswith('num_batches_tracked')))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f'{k}: checkpoint {tuple(state[k].shape)}, model '
        f'{tuple(expected[k].shape)}'
        for k in sorted(set(expected) & set(state))
        if tuple(state[k].shape) != tuple(expected[k].shape)
    ]

    def show(keys):
        more = f', ... ({len(keys) - 5} more)' if len(keys) > 5 else ''
        return ', '.join(keys[:5]) + more

    lines = []
    if missing:
        lines.append(f'{len(missing)} missing keys: {show(missing)}')
    if unexpected:
        lines.append(f'{len(unexpected)} unexpected keys: {show(unexpected)}')
    if shapes:
        lines.append(f'{len(shapes)} shape mismatches: {show(shapes)}')
    return lines


def pretrained_init_cfgs(cfg) -> List[Dict]:
    """The ``init_cfg`` entries of type ``Pretrained`` of the model's
    backbone."""
    backbone = cfg.model.get('backbone') or {}
    init_cfg = backbone.get('init_cfg')
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return [
        i for i in items if isinstance(i, dict)
        and i.get('type') == 'Pretrained' and i.get('checkpoint')
    ]


def check_backbone_init(cfg) -> List[str]:
    """Refuse a backbone ``init_cfg=dict(type='Pretrained', ...)`` whose
    checkpoint does not fit the config's backbone.

    mmengine's ``PretrainedInit`` loads with ``strict=False``: a checkpoint
    of another architecture or width only logs ``size mismatch`` warnings
    and the run trains from random weights. This loads the checkpoint as
    ``PretrainedInit`` will (``mmpretrain://NAME`` and URLs included, the
    ``prefix`` stripped) and compares it with the backbone the config
    builds; missing BN counters are tolerated, as the converter fills them.
    Skipped when ``load_from`` or ``resume`` will replace the weights.
    Returns the checked checkpoints.

    Raises:
        ValueError: the report (missing / shape-mismatched keys) and what to
            do: convert the checkpoint for this config first.
    """
    if cfg.get('load_from') or cfg.get('resume'):
        return []
    inits = pretrained_init_cfgs(cfg)
    if not inits:
        return []
    from mmengine.runner.checkpoint import (_load_checkpoint,
                                            _load_checkpoint_with_prefix)

    from .run_config import build_model_without_checkpoints
    backbone = build_model_without_checkpoints(cfg, part='backbone')
    expected = backbone.state_dict()
    checked = []
    for init in inits:
        path, prefix = init['checkpoint'], init.get('prefix')
        if prefix:
            state = _load_checkpoint_with_prefix(
                prefix, path, map_location='cpu')
        else:
            ckpt = _load_checkpoint(path, map_location='cpu')
            state = ckpt.get('state_dict', ckpt)
            state = {
                k[len('module.'):] if k.startswith('module.') else k: v
                for k, v in state.items()
            }
        problems = state_mismatch(expected, state, allow_missing_counters=True)
        fatal = [p for p in problems if 'unexpected' not in p]
        if fatal:
            matched = len(set(expected) & set(state))
            raise ValueError(
                f'the backbone checkpoint {path} (prefix {prefix!r}) does not '
                f'fit the backbone of this config: matched {matched}/'
                f'{len(expected)} backbone keys; ' + '; '.join(problems) +
                '. A checkpoint of another architecture, depth or width? '
                'Convert it for this config first: python '
                'tools/convert_csl_checkpoint.py SRC DST --config CONFIG')
        checked.append(path)
    return checked
