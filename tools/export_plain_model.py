"""Turn a Core-tuned model into a plain mmpretrain / mmseg model to deploy.

Core-tuning only changes training: at inference the Core-tuning heads are
the classifier they wrap (``CoreContrastiveClsHead``: a linear classifier,
like mmpretrain's ``LinearClsHead``; ``CoreContrastiveSegHead``: the wrapped
mmseg decode head, same parameter names). This tool writes

* ``OUT/<name>.py``: the config with every Core-tuning head replaced by the
  plain head (``LinearClsHead`` / the ``wrapped_type`` decode head), the
  coretune_mm hooks, metrics and ``custom_imports`` removed and the
  backbone's ``init_cfg`` dropped (its weights are in the checkpoint), so it
  builds with mmpretrain or mmseg alone;
* ``OUT/<name>.pth``: ``meta`` and ``state_dict`` only (no optimizer), the
  projectors dropped; a bias-free classifier gets a zero bias (the same
  logits).

    python tools/export_plain_model.py CONFIG CHECKPOINT OUT_DIR [--name N]

The checkpoint must be a trained model of CONFIG: it is checked against the
model the config builds (every key, every shape) and refused otherwise.

The plain model's predictions equal the Core-tuned model's on the same
inputs (tests/test_export_plain_model.py).
"""
import argparse
import copy
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

# coretune_mm's registered components other than the heads
CORETUNE_HOOKS = ('IterationSeedHook', 'PooledFeatureHook',
                  'ContrastiveInitHook')
CORETUNE_METRICS = ('FeatureScatter', )
# CoreContrastiveSegHead's own arguments (the rest are the wrapped head's)
SEG_HEAD_ARGS = ('type', 'wrapped_type', 'proj_channels',
                 'proj_hidden_channels', 'max_pixels', 'mixup', 'core_loss',
                 'sample_seed')


def plain_cls_head(head):
    """``CoreContrastiveClsHead`` config -> ``LinearClsHead`` config."""
    plain = dict(
        type='LinearClsHead',
        num_classes=head['num_classes'],
        in_channels=head['in_channels'],
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=head.get('topk', (1, )))
    if 'cal_acc' in head:
        plain['cal_acc'] = head['cal_acc']
    return plain


def plain_seg_head(head):
    """``CoreContrastiveSegHead`` config -> the wrapped decode head's."""
    plain = {k: v for k, v in head.items() if k not in SEG_HEAD_ARGS}
    plain['type'] = head['wrapped_type']
    return plain


def _is_core(head, name):
    return isinstance(head, dict) and head.get('type') == name


def plain_config(cfg):
    """``(plain config, {state-dict prefix: kind})``: the heads replaced,
    coretune_mm's components removed."""
    cfg = copy.deepcopy(cfg)
    heads = {}
    model = cfg.model
    if _is_core(model.get('head'), 'CoreContrastiveClsHead'):
        heads['head.'] = 'cls' if model.head.get('bias', True) else \
            'cls-nobias'
        model.head = plain_cls_head(model.head)
    for key in ('decode_head', 'auxiliary_head'):
        value = model.get(key)
        items = value if isinstance(value, list) else [value]
        for i, head in enumerate(items):
            if _is_core(head, 'CoreContrastiveSegHead'):
                prefix = f'{key}.{i}.' if isinstance(value, list) else \
                    f'{key}.'
                heads[prefix] = 'seg'
                items[i] = plain_seg_head(head)
        if isinstance(value, list):
            model[key] = items
        elif value is not None:
            model[key] = items[0]
    if not heads:
        raise ValueError('the config has no Core-tuning head '
                         '(CoreContrastiveClsHead / CoreContrastiveSegHead)')
    backbone = model.get('backbone', {})
    backbone.pop('init_cfg', None)
    if 'pretrained' in model:
        model.pretrained = None
    imports = cfg.get('custom_imports', {}).get('imports', [])
    imports = [m for m in imports if not m.startswith('coretune_mm')]
    if imports:
        cfg.custom_imports.imports = imports
    else:
        cfg.pop('custom_imports', None)
    if cfg.get('custom_hooks'):
        cfg.custom_hooks = [
            h for h in cfg.custom_hooks if h.get('type') not in CORETUNE_HOOKS
        ]
    for key in ('val_evaluator', 'test_evaluator'):
        value = cfg.get(key)
        if isinstance(value, list):
            kept = [m for m in value if m.get('type') not in CORETUNE_METRICS]
            cfg[key] = kept[0] if len(kept) == 1 else kept
    cfg.load_from = None
    cfg.resume = False
    return cfg, heads


def plain_state_dict(state, heads):
    """The Core-tuned state dict with only what the plain heads have: a
    classifier's ``fc.*`` (a zero bias added where it had none), a wrapped
    decode head's own parameters (projector and Core-tuning modules
    dropped)."""
    out = {}
    for key, value in state.items():
        prefix = next((p for p in heads if key.startswith(p)), None)
        if prefix is None:
            out[key] = value
            continue
        rest = key[len(prefix):]
        if rest.startswith(('projector.', 'mixup.', 'core_loss.')):
            continue
        if heads[prefix].startswith('cls') and not rest.startswith('fc.'):
            continue
        out[key] = value
    for prefix, kind in heads.items():
        if kind == 'cls-nobias':
            weight = out[prefix + 'fc.weight']
            out[prefix + 'fc.bias'] = weight.new_zeros(weight.shape[0])
    return out


def check_core_checkpoint(cfg, state, config_path, ckpt_path):
    """Refuse a checkpoint that is not a trained model of ``cfg`` (a raw CSL
    checkpoint, another architecture's): the Core-tuned model is built from
    the config and the checkpoint must match its state dict key for key and
    shape for shape -- otherwise the plain model would predict with
    randomly initialised parts."""
    import coretune_mm  # noqa: F401  (registers the Core-tuning heads)
    from coretune_mm.utils import (build_model_without_checkpoints,
                                   state_mismatch)
    expected = build_model_without_checkpoints(cfg).state_dict()
    problems = state_mismatch(expected, state)
    if problems:
        raise ValueError(
            f'{ckpt_path} is not a trained model of {config_path} (a strict '
            'load would fail): ' + '; '.join(problems) + '. Export the '
            'checkpoint that tools/train.py wrote for this config (a raw CSL '
            'checkpoint is a backbone to fine-tune, not a model to export).')


def main(argv=None):
    from coretune_mm.utils.safe_load import add_unsafe_load_flag
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.split('\n\n')[0].split()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the Core-tuning config')
    parser.add_argument('checkpoint', help='its trained checkpoint')
    parser.add_argument('out_dir', help='where to write NAME.py, NAME.pth')
    parser.add_argument(
        '--name',
        help='file name of the outputs (default: the config name with '
        '_plain)')
    add_unsafe_load_flag(parser, 'CHECKPOINT')
    args = parser.parse_args(argv)

    from mmengine.config import Config

    from coretune_mm.utils import load_checkpoint_file
    cfg = Config.fromfile(args.config)
    plain, heads = plain_config(cfg)
    ckpt = load_checkpoint_file(args.checkpoint, unsafe=args.unsafe_load)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{args.checkpoint} holds no state dict (a '
                         f'{type(ckpt).__name__})')
    check_core_checkpoint(cfg, state, args.config, args.checkpoint)
    weights = plain_state_dict(state, heads)
    name = args.name or (osp.splitext(osp.basename(args.config))[0] + '_plain')
    os.makedirs(args.out_dir, exist_ok=True)
    cfg_path = osp.join(args.out_dir, name + '.py')
    plain.dump(cfg_path)
    meta = {
        k: v
        for k, v in (ckpt.get('meta') or {}).items()
        if isinstance(v, (str, int, float)) or k == 'dataset_meta'
    }
    meta.update(source=osp.abspath(args.checkpoint), cfg=plain.pretty_text)
    ckpt_path = osp.join(args.out_dir, name + '.pth')
    torch.save(dict(meta=meta, state_dict=weights), ckpt_path)
    dropped = sorted(set(state) - set(weights))
    made = ', '.join(f'{p}* ({k})' for p, k in heads.items())
    print(f'heads made plain: {made}')
    print(f'dropped {len(dropped)} tensors (e.g. {", ".join(dropped[:3])})')
    print(f'wrote {cfg_path} and {ckpt_path} ({len(weights)} tensors)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
