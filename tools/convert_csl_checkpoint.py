"""Convert a contrastive self-supervised checkpoint into backbone weights for
mmpretrain's / mmseg's ResNet (keys ``backbone.*``, torchvision names).

Reads the releases of the common CSL code bases: facebookresearch MoCo v1/v2
(``module.encoder_q.``) and MoCo v3 (``module.base_encoder.``); DINO full
training checkpoints (``teacher``/``student``: the teacher, the model DINO
evaluates, is taken); VISSL (``classy_state_dict`` -> ``base_model`` ->
``model`` -> ``trunk``, keys ``_feature_blocks.*``); the SimCLRv2 PyTorch
port (``resnet``: ``net.0.net.*`` stem, ``net.N.blocks.*``); BYOL ports with
the encoder as an ``nn.Sequential`` of torchvision's children
(``encoder.0`` = conv1, ``encoder.4.0`` = layer1.0, ...); other SimCLR/BYOL
ports with torchvision keys behind a prefix (``encoder.``,
``online_network.encoder.``, ``net.``, sthalles/SimCLR's ``backbone.``);
solo-learn (Lightning) and mmpretrain/mmselfsup checkpoints (``backbone.``).
Weights are found in nested dictionaries at any depth; the prefix is
detected by matching every key against the target backbone's own names and
shapes, and the layout is named from the evidence (container, sibling keys,
metadata). Momentum/target encoders, DINO's student, projectors,
predictors and queues are left out.

SRC is a file, a URL, or a self-supervised model of mmpretrain's model zoo
by name (``mocov2_resnet50_8xb32-coslr-200e_in1k`` or
``mmpretrain://...``; ``--list`` prints them with their URLs, read from the
installed mmpretrain's model index).

It prints what matched, what is missing and what was dropped, and exits
non-zero with a clear message if the backbone does not match completely --
the result never relies on a silent ``strict=False``.

    python tools/convert_csl_checkpoint.py moco_v2_800ep_pretrain.pth.tar \\
        checkpoints/mocov2_resnet50_backbone.pth            # ResNet-50
    python tools/convert_csl_checkpoint.py SRC DST \\
        --config configs/coretune_deeplabv3_voc.py
    python tools/convert_csl_checkpoint.py --list
"""
import argparse
import os
import os.path as osp
import pickle
import re
import sys
from collections import Counter

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

from coretune_mm.utils.safe_load import add_unsafe_load_flag  # noqa: E402
from coretune_mm.utils.safe_load import load_checkpoint_file  # noqa: E402

# nesting of dictionaries in a flattened key (``container/key``)
SEP = '/'
# Model prefixes of the known layouts, for the report (the prefix itself is
# detected); containers and other evidence refine it (``layout_name``).
LAYOUTS = {
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
# where a VISSL checkpoint keeps its trunk
VISSL_TRUNK = SEP.join(('classy_state_dict', 'base_model', 'model', 'trunk'))
# Parts never used as the backbone when an equally complete candidate
# exists: momentum/target encoders; DINO's student (its teacher is taken).
SECONDARY = ('encoder_k', 'momentum', 'target', 'key_encoder', 'student')


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


def flatten(obj, path=''):
    """``{container/key: tensor}`` of every tensor in nested dictionaries
    (dictionary levels joined with ``/``; the keys of a state dict keep
    their dots)."""
    out = {}
    for key, value in obj.items():
        name = f'{path}{SEP}{key}' if path else str(key)
        if isinstance(value, torch.Tensor):
            out[name] = value
        elif isinstance(value, dict):
            out.update(flatten(value, name))
    return out


def _rename_sequential(state):
    """A ResNet kept as ``nn.Sequential(*list(resnet.children())[:-1])`` (a
    BYOL port's ``encoder.0`` = conv1, ``.1`` = bn1, ``.4``-``.7`` =
    layer1-4) renamed to torchvision's names."""
    names = {
        '0': 'conv1',
        '1': 'bn1',
        '4': 'layer1',
        '5': 'layer2',
        '6': 'layer3',
        '7': 'layer4'
    }
    roots = {
        k[:-len('4.0.conv1.weight')]
        for k in state
        if k.endswith('4.0.conv1.weight') and (k[:-len('4.0.conv1.weight')] +
                                               '0.weight') in state
    }
    if not roots:
        return state, False
    pattern = re.compile('^(' + '|'.join(re.escape(r) for r in roots) +
                         r')([014567])\.(.+)$')
    out = {}
    for k, v in state.items():
        m = pattern.match(k)
        out[f'{m[1]}{names[m[2]]}.{m[3]}' if m else k] = v
    return out, True


_V2_BLOCK = re.compile(r'^(.*?)net\.(\d)\.blocks\.(\d+)\.(.+)$')
_V2_PARTS = [
    (re.compile(r'^projection\.shortcut\.(.+)$'), 'downsample.0.{}'),
    (re.compile(r'^projection\.bn\.0\.(.+)$'), 'downsample.1.{}'),
    (re.compile(r'^net\.([024])\.(.+)$'),
     lambda m: f'conv{int(m[1]) // 2 + 1}.{m[2]}'),
    (re.compile(r'^net\.([135])\.0\.(.+)$'),
     lambda m: f'bn{int(m[1]) // 2 + 1}.{m[2]}'),
]


def _rename_simclrv2(state):
    """The SimCLRv2 PyTorch port's ResNet (``net.0.net.0`` stem conv,
    ``net.0.net.1.0`` its BN, ``net.S.blocks.B.{net.K, projection}``)
    renamed to torchvision's names."""
    if not any(k.endswith('net.0.net.0.weight') for k in state):
        return state, False
    out, renamed = {}, False
    for k, v in state.items():
        new = k
        m = _V2_BLOCK.match(k)
        if k.endswith('net.0.net.0.weight'):
            new = k[:-len('net.0.net.0.weight')] + 'conv1.weight'
        elif re.search(r'net\.0\.net\.1\.0\.[^.]+$', k):
            new = re.sub(r'net\.0\.net\.1\.0\.([^.]+)$', r'bn1.\1', k)
        elif m:
            for part, fmt in _V2_PARTS:
                pm = part.match(m[4])
                if pm:
                    tail = fmt(pm) if callable(fmt) else fmt.format(pm[1])
                    new = f'{m[1]}layer{m[2]}.{m[3]}.{tail}'
                    break
        renamed |= new != k
        out[new] = v
    return out, renamed


def find_state_dict(ckpt):
    """``(flat state, renaming)``: every tensor of the checkpoint under its
    ``container/key`` name, with the ``nn.Sequential`` and SimCLRv2 ResNet
    layouts renamed to torchvision's names (``renaming``: which, or None)."""
    if not isinstance(ckpt, dict):
        raise ConversionError('the checkpoint is not a dictionary')
    state = flatten(ckpt)
    if not state:
        raise ConversionError(
            'no tensor dictionary found in the checkpoint (looked at every '
            'nested dictionary)')
    for name, rename in (('sequential', _rename_sequential),
                         ('simclrv2', _rename_simclrv2)):
        state, done = rename(state)
        if done:
            return state, name
    return state, None


def detect_prefix(state, target):
    """The ``container/prefix`` under which the most target keys match (key
    and shape); ties go to a primary encoder, then the shorter prefix."""
    matches = Counter()
    for key, value in state.items():
        for tkey, shape in target.items():
            if key.endswith(tkey) and tuple(value.shape) == shape:
                prefix = key[:len(key) - len(tkey)]
                if prefix == '' or prefix.endswith(('.', SEP)):
                    matches[prefix] += 1
    if not matches:
        return None, 0

    def rank(prefix):
        secondary = any(s in prefix for s in SECONDARY)
        return (matches[prefix], not secondary, -len(prefix))

    best = max(matches, key=rank)
    return best, matches[best]


def split_prefix(full):
    """``'a/b/module.encoder_q.'`` -> ``('a/b', 'module.encoder_q.')``."""
    container, _, prefix = full.rpartition(SEP)
    return container or None, prefix


def layout_name(ckpt, state, full_prefix, renaming=None):
    """The code base a checkpoint comes from, named from its container, the
    keys beside the backbone and its metadata."""
    container, prefix = split_prefix(full_prefix)
    if renaming == 'sequential':
        return 'ResNet as nn.Sequential (BYOL port: encoder.4.0 = layer1.0)'
    if renaming == 'simclrv2':
        return 'SimCLRv2 (PyTorch port of the TF checkpoints)'
    if container and container.split(SEP)[0] == 'teacher':
        return 'DINO (teacher)'
    if container == VISSL_TRUNK:
        return 'VISSL (trunk)'
    if container and container.startswith('online_network'):
        return 'BYOL (online network)'
    if prefix == 'backbone.':
        base = f'{container}{SEP}' if container else ''
        meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
        if 'pytorch-lightning_version' in ckpt or 'hyper_parameters' in ckpt:
            return 'solo-learn (PyTorch Lightning)'
        if any(k.startswith(base + 'neck.') for k in state) or any(
                k in meta
                for k in ('mmpretrain_version', 'mmselfsup_version', 'cfg')):
            return 'mmpretrain / mmselfsup self-supervised'
        if any(k.startswith(base + 'backbone.fc.') for k in state):
            return 'SimCLR (sthalles/SimCLR port: MLP in backbone.fc)'
        return 'backbone.* (code base not recognised)'
    return LAYOUTS.get(prefix, 'custom')


def convert(state, target, ckpt=None, renaming=None):
    """Returns (backbone state dict, report dict); raises ConversionError.
    ``state``: a flat state (``find_state_dict``); ``ckpt``: the whole
    checkpoint, for naming the layout."""
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
    container, model_prefix = split_prefix(prefix)
    report = dict(
        prefix=model_prefix,
        container=container,
        layout=layout_name(ckpt or {}, state, prefix, renaming),
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
            f'the checkpoint (prefix {model_prefix!r}, {report["layout"]}) '
            'does '
            'not match the target backbone: ' + ' / '.join(lines))
    out = {'backbone.' + k: picked[k] for k in target}
    return out, report


def print_report(report, total):
    p = print
    where = (f' in {report["container"]!r}' if report.get('container') else '')
    p(f'layout: {report["layout"]} (prefix {report["prefix"]!r}{where})')
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
        description=' '.join(__doc__.split('\n\n')[0].split()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        'src',
        nargs='?',
        help='the CSL checkpoint: a file, a URL, or an mmpretrain model '
        'name (mmpretrain://NAME or NAME; see --list)')
    parser.add_argument(
        'dst', nargs='?', help='where to write the backbone weights')
    parser.add_argument(
        '--list',
        action='store_true',
        help="print the self-supervised ResNet checkpoints of the installed "
        "mmpretrain's model index (name, algorithm, URL) and exit")
    parser.add_argument(
        '--config',
        help="target: the `model.backbone` of this config (default: "
        "mmpretrain's ResNet, torchvision layout)")
    parser.add_argument(
        '--depth', type=int, default=50, help='ResNet depth (no --config)')
    add_unsafe_load_flag(parser, 'SRC')
    args = parser.parse_args(argv)
    from coretune_mm.utils.csl_models import (SCHEME, csl_models,
                                              download_checkpoint,
                                              resolve_checkpoint)
    if args.list:
        for name, algorithm, url in csl_models():
            print(f'{name}\t{algorithm}\t{url}')
        return 0
    if not (args.src and args.dst):
        parser.error('SRC and DST are required (or --list)')
    try:
        src = resolve_checkpoint(args.src)
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1

    target = backbone_keys(args.config, args.depth)
    # weights-only by default (tensors, containers and mmengine's message-hub
    # types); a file that needs full unpickling (e.g. an argparse Namespace
    # in a facebookresearch checkpoint) needs --unsafe-load, for this load
    # (a URL or mmpretrain://NAME: its copy in the torch hub cache, loaded
    # the same way; other schemes go through mmengine's CheckpointLoader)
    try:
        if src.startswith(('http://', 'https://', SCHEME)):
            try:
                path = download_checkpoint(src)
            except OSError as e:  # URLError included: offline, a wrong URL
                print(
                    f'error: could not download {src}: '
                    f'{getattr(e, "reason", e)} (no network here? download '
                    'it elsewhere and pass the file, or put it in the torch '
                    'hub cache: '
                    f'{osp.join(torch.hub.get_dir(), "checkpoints")})',
                    file=sys.stderr)
                return 1
            ckpt = load_checkpoint_file(path, unsafe=args.unsafe_load)
        elif '://' in src:
            from mmengine.runner.checkpoint import CheckpointLoader
            ckpt = CheckpointLoader.load_checkpoint(src, map_location='cpu')
        else:
            ckpt = load_checkpoint_file(src, unsafe=args.unsafe_load)
    except (pickle.UnpicklingError, ValueError, KeyError) as e:
        # refused objects (names --unsafe-load), not a checkpoint or
        # corrupted, an unknown mmpretrain:// name (with the nearest names)
        print(
            f'error: {e.args[0] if isinstance(e, KeyError) else e}',
            file=sys.stderr)
        return 1
    try:
        state, renaming = find_state_dict(ckpt)
        weights, report = convert(state, target, ckpt, renaming)
    except ConversionError as e:
        print(f'error: {args.src}: {e}', file=sys.stderr)
        return 1
    print_report(report, len(target))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(
        dict(
            state_dict=weights,
            meta=dict(
                source=src if '://' in src else osp.abspath(src),
                container=report['container'],
                prefix=report['prefix'],
                layout=report['layout'])), args.dst)
    print(f'wrote {len(weights)} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
