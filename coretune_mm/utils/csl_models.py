"""Self-supervised checkpoints of mmpretrain's model zoo, by name.

mmpretrain's model index (``mmpretrain/.mim/model-index.yml`` of the
installed package) lists self-supervised pretraining checkpoints (MoCo v2/v3,
SimCLR, BYOL, SwAV, Barlow Twins, DenseCL, SimSiam, ...) with their download
links; their ``state_dict`` holds ``backbone.*``, which a fine-tuning config
loads with ``init_cfg=dict(type='Pretrained', prefix='backbone.', ...)``.

``import coretune_mm`` registers the checkpoint scheme ``mmpretrain://NAME``
with mmengine's ``CheckpointLoader``: wherever mmengine loads a checkpoint
(``init_cfg`` of a backbone, ``load_from``, ``tools/convert_csl_checkpoint``),
``mmpretrain://mocov2_resnet50_8xb32-coslr-200e_in1k`` is the URL that the
installed mmpretrain's metafile gives for that model (downloaded once into
the torch hub cache, as mmengine does for every URL). Nothing here types a
URL by hand.
"""
import difflib
import os.path as osp

SCHEME = 'mmpretrain://'


def _model_index():
    """``{name: modelindex Model}`` of the installed mmpretrain (configs
    not parsed)."""
    try:
        from mmpretrain.apis.model import ModelHub
    except ImportError as e:  # pragma: no cover - mmpretrain is a dependency
        raise ImportError(
            'mmpretrain:// checkpoints need mmpretrain installed') from e
    ModelHub._register_mmpretrain_models()
    return ModelHub._models_dict


def csl_models(arch='resnet'):
    """``[(name, collection, url)]`` of the pretraining-only checkpoints
    (no downstream result in the index: self-supervised models) whose name
    names ``arch`` as the backbone (``<algorithm>_<arch>...``)."""
    rows = []
    for name, meta in sorted(_model_index().items()):
        if meta.results or not meta.weights:
            continue
        parts = name.split('_')
        if len(parts) < 2 or not parts[1].startswith(arch):
            continue
        rows.append((name, meta.in_collection, meta.weights))
    return rows


def csl_checkpoint_url(name):
    """The download URL of mmpretrain model ``name`` (``mmpretrain://`` is
    optional), from the installed model index; a clear error with the
    nearest names when it is not there."""
    if name.startswith(SCHEME):
        name = name[len(SCHEME):]
    index = _model_index()
    meta = index.get(name.lower())
    if meta is None:
        close = difflib.get_close_matches(name.lower(), list(index), n=5) or \
            sorted(n for n in index if n.startswith(name.lower()))[:5]
        hint = (f'; did you mean {", ".join(close)}?' if close else '')
        raise KeyError(
            f'{name!r} is not a model of the installed mmpretrain{hint} '
            '(`python tools/convert_csl_checkpoint.py --list` prints the '
            'self-supervised ResNet checkpoints)')
    if not meta.weights:
        raise KeyError(f'mmpretrain model {name!r} has no checkpoint URL')
    return meta.weights


def resolve_checkpoint(src):
    """A local path, a URL, ``mmpretrain://NAME`` or a bare mmpretrain model
    name, as the string mmengine's ``CheckpointLoader`` loads: paths and
    URLs unchanged, model names as ``mmpretrain://NAME``."""
    if osp.exists(src) or '://' in src:
        return src
    try:
        csl_checkpoint_url(src)
    except KeyError as e:
        raise FileNotFoundError(
            f'{src!r} is neither a file nor a URL, and {e.args[0]}') from None
    return SCHEME + src


def download_checkpoint(src):
    """The local file of an http(s) URL or ``mmpretrain://NAME``: the copy
    in the torch hub cache (``TORCH_HOME/hub/checkpoints/<file name>``, where
    mmengine keeps what it downloads), downloaded first if it is not there.
    So the caller loads it as it loads any file (weights-only, or fully
    unpickled when asked)."""
    import os
    from urllib.parse import urlparse

    import torch.hub
    url = csl_checkpoint_url(src) if src.startswith(SCHEME) else src
    if urlparse(url).scheme not in ('http', 'https'):
        raise ValueError(f'{src!r}: not an http(s) URL or {SCHEME}NAME')
    cached = osp.join(torch.hub.get_dir(), 'checkpoints',
                      osp.basename(urlparse(url).path))
    if not osp.exists(cached):
        os.makedirs(osp.dirname(cached), exist_ok=True)
        torch.hub.download_url_to_file(url, cached, progress=True)
    return cached


def load_from_mmpretrain(filename, map_location=None):
    """mmengine ``CheckpointLoader`` scheme ``mmpretrain://NAME``."""
    from mmengine.runner.checkpoint import load_from_http
    return load_from_http(
        csl_checkpoint_url(filename), map_location=map_location)


def register_csl_scheme():
    """Register ``mmpretrain://`` with mmengine (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes=SCHEME, loader=load_from_mmpretrain, force=True)
