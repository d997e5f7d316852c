"""Convert a contrastive self-supervised checkpoint into backbone weights for
mmpretrain's / mmseg's ResNet (keys ``backbone.*``, torchvision names).

Understands the facebookresearch MoCo v1/v2 (``module.encoder_q.``) and MoCo
v3 (``module.base_encoder.``) layouts, common SimCLR and BYOL PyTorch ports
(torchvision keys with or without a wrapper prefix, e.g. ``encoder.``,
``online_network.encoder.``, ``net.``) and mmpretrain/mmselfsup
self-supervised checkpoints (``backbone.``): the prefix is detected by
matching every key against the target backbone's own key names and shapes.
Momentum/target encoders, projectors, predictors and queues are left out.

It prints what matched, what is missing and what was dropped, and exits
non-zero with a clear message if the backbone does not match completely --
the result never relies on a silent ``strict=False``.

    python tools/convert_csl_checkpoint.py moco_v2_800ep_pretrain.pth.tar \\
        checkpoints/mocov2_resnet50_backbone.pth            # ResNet-50
    python tools/convert_csl_checkpoint.py SRC DST \\
        --config configs/coretune_deeplabv3_voc.py
"""
import argparse
import os
import os.path as osp
import pickle
import sys
from collections import Counter

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

from coretune_mm.utils.safe_load import load_checkpoint_file  # noqa: E402

# Where the weights sit inside the checkpoint file, tried in order.
CONTAINERS = ('state_dict', 'model', 'online_network_state_dict', 'network',
              'net', 'encoder')
# Known layouts, for the report (the prefix itself is detected).
LAYOUTS = {
    'backbone.': 'mmpretrain / mmselfsup self-supervised',
    'module.encoder_q.': 'MoCo v1/v2 (facebookresearch)',
    'encoder_q.': 'MoCo v1/v2 (unwrapped)',
    'module.base_encoder.': 'MoCo v3 (facebookresearch)',
    'base_encoder.': 'MoCo v3 (unwrapped)',
    'online_network.encoder.': 'BYOL (online network)',
    'online_encoder.net.': 'BYOL (byol-pytorch learner)',
    'module.encoder.': 'SimCLR / BYOL (DataParallel encoder)',
    'encoder.': 'SimCLR / BYOL (encoder)',
    'net.': 'BYOL (byol-pytorch net)',
    'module.': 'torchvision layout (DataParallel)',
    '': 'torchvision layout',
}
# Parts never used as the backbone when a better candidate exists.
SECONDARY = ('encoder_k', 'momentum', 'target', 'teacher', 'key_encoder')


class ConversionError(RuntimeError):
    pass


def backbone_keys(config=None, depth=50):
    """{key: shape} of the target backbone (built, never loaded)."""
    from mmengine.registry import init_default_scope
    if config is None:
        from mmpretrain.models import ResNet
        model = ResNet(depth=depth)
    else:
        from mmengine.config import Config
        from mmengine.model import revert_sync_batchnorm
        cfg = Config.fromfile(config)
        if cfg.get('custom_imports'):
            from mmengine.utils import import_modules_from_strings
            import_modules_from_strings(**cfg.custom_imports)
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        from mmengine.registry import MODELS
        backbone = cfg.model.backbone.copy()
        backbone.pop('init_cfg', None)
        backbone.pop('pretrained', None)
        model = revert_sync_batchnorm(MODELS.build(backbone))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def find_state_dict(ckpt):
    for name in CONTAINERS:
        if isinstance(ckpt, dict) and isinstance(ckpt.get(name), dict):
            inner = ckpt[name]
            if any(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner, name
    if isinstance(ckpt, dict) and any(
            isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt, None
    raise ConversionError(
        'no tensor dictionary found in the checkpoint (looked at the top '
        f'level and at {", ".join(CONTAINERS)})')


def detect_prefix(state, target):
    """The prefix under which the most target keys match (key and shape)."""
    matches = Counter()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for tkey, shape in target.items():
            if key.endswith(tkey) and tuple(value.shape) == shape:
                prefix = key[:len(key) - len(tkey)]
                if prefix == '' or prefix.endswith('.'):
                    matches[prefix] += 1
    if not matches:
        return None, 0

    def rank(prefix):
        secondary = any(s in prefix for s in SECONDARY)
        return (matches[prefix], not secondary, -len(prefix))

    best = max(matches, key=rank)
    return best, matches[best]


def convert(state, target):
    """Returns (backbone state dict, report dict); raises ConversionError."""
    prefix, _ = detect_prefix(state, target)
    if prefix is None:
        raise ConversionError(
            'no key of the checkpoint matches the target backbone (by name '
            'and shape): is it a ResNet of this depth/width? Pass --config '
            'or --depth for another backbone.')
    picked = {
        k[len(prefix):]: v
        for k, v in state.items()
        if k.startswith(prefix) and isinstance(v, torch.Tensor)
    }
    matched = sorted(k for k in target if k in picked)
    missing = sorted(k for k in target if k not in picked)
    mismatched = sorted(
        k for k in matched if tuple(picked[k].shape) != target[k])
    filled = []
    # BN step counters are absent from older checkpoints; they carry no
    # learned value, so they are filled (and reported), anything else fails
    for k in list(missing):
        if k.endswith('num_batches_tracked'):
            picked[k] = torch.tensor(0, dtype=torch.long)
            missing.remove(k)
            filled.append(k)
    report = dict(
        prefix=prefix,
        layout=LAYOUTS.get(prefix, 'custom'),
        matched=[k for k in matched if k not in mismatched],
        missing=missing,
        mismatched=[(k, tuple(picked[k].shape), target[k])
                    for k in mismatched],
        filled=filled,
        dropped=sorted(k for k in picked if k not in target),
        ignored=sorted(k for k in state if not k.startswith(prefix)))
    if missing or mismatched:
        lines = []
        if missing:
            lines.append(f'{len(missing)} backbone keys are missing, e.g. '
                         f'{", ".join(missing[:5])}')
        if mismatched:
            lines.append('shape mismatch: ' +
                         '; '.join(f'{k} {a} vs {b}'
                                   for k, a, b in report['mismatched'][:5]))
        raise ConversionError(
            f'the checkpoint (prefix {prefix!r}, {report["layout"]}) does '
            'not match the target backbone: ' + ' / '.join(lines))
    out = {'backbone.' + k: picked[k] for k in target}
    return out, report


def print_report(report, total):
    p = print
    p(f'layout: {report["layout"]} (prefix {report["prefix"]!r})')
    p(f'matched: {len(report["matched"])}/{total} backbone keys')
    if report['filled']:
        p(f'filled (absent BN counters): {len(report["filled"])}')
    p(f'missing: {len(report["missing"])}  shape mismatches: '
      f'{len(report["mismatched"])}')
    if report['dropped']:
        p(f'dropped under the prefix (not backbone): '
          f'{len(report["dropped"])}, e.g. {", ".join(report["dropped"][:4])}')
    if report['ignored']:
        p(f'ignored outside the prefix: {len(report["ignored"])}, e.g. '
          f'{", ".join(report["ignored"][:4])}')


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='the CSL checkpoint')
    parser.add_argument('dst', help='where to write the backbone weights')
    parser.add_argument(
        '--config',
        help="target: the `model.backbone` of this config (default: "
        "mmpretrain's ResNet, torchvision layout)")
    parser.add_argument(
        '--depth', type=int, default=50, help='ResNet depth (no --config)')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='unpickle SRC fully (weights_only=False) for this one load: '
        'needed for checkpoints that hold arbitrary Python objects; only for '
        'files you trust')
    args = parser.parse_args(argv)

    target = backbone_keys(args.config, args.depth)
    # weights-only by default (tensors, containers and mmengine's message-hub
    # types); a file that needs full unpickling (e.g. an argparse Namespace
    # in a facebookresearch checkpoint) needs --unsafe-load, for this load
    try:
        ckpt = load_checkpoint_file(args.src, unsafe=args.unsafe_load)
    except pickle.UnpicklingError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    try:
        state, container = find_state_dict(ckpt)
        weights, report = convert(state, target)
    except ConversionError as e:
        print(f'error: {args.src}: {e}', file=sys.stderr)
        return 1
    print_report(report, len(target))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(
        dict(
            state_dict=weights,
            meta=dict(
                source=osp.abspath(args.src),
                container=container,
                prefix=report['prefix'],
                layout=report['layout'])), args.dst)
    print(f'wrote {len(weights)} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
