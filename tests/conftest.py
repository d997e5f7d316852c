"""Shared test helpers (no `tests` package: the mmseg wheel ships one)."""
import hashlib
import os
import os.path as osp
import shutil
import sys
import tempfile

import pytest
import torch

# no TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD: checkpoints load weights-only, with
# the mmengine types that `import coretune_mm` allow-lists
os.environ.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from coretune_mm.utils import load_tool  # noqa: E402,F401

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# --------------------------------------------------------------------------
# Data the tests make themselves (nothing from ../shared, nothing
# downloaded): written once into a cache folder named by this file's
# contents, so a change of the generators makes new data.
with open(__file__, 'rb') as _f:
    _DATA_KEY = hashlib.sha1(_f.read()).hexdigest()[:10]
TEST_DATA = osp.join(tempfile.gettempdir(), f'coretune-test-data-{_DATA_KEY}')
# CIFAR-10 layout (folder per class, 32x32 JPEGs; train 100, test 200 per
# class) drawn from scikit-learn's real digit scans
CIFAR_ROOT = osp.join(TEST_DATA, 'digits-cifar-layout')
# PASCAL VOC 2012 layout (JPEGImages, palette SegmentationClass PNGs with
# 255 borders, ImageSets/Segmentation/{train,val,trainval}.txt)
VOC_ROOT = osp.join(TEST_DATA, 'voc-drawn', 'VOCdevkit', 'VOC2012')
# a real mmengine MoCo v2 checkpoint: mmpretrain's own MoCo, one epoch on
# the CIFAR-layout digits, the narrow CIFAR ResNet-18 of configs/coretune
MOCO_CKPT = osp.join(TEST_DATA, 'moco', 'epoch_1.pth')


def _write_once(root, write):
    """Run ``write(tmp_folder)`` and move the folder to ``root`` (atomic:
    a concurrent or interrupted writer never leaves a half folder)."""
    if osp.exists(root):
        return root
    os.makedirs(osp.dirname(root), exist_ok=True)
    tmp = tempfile.mkdtemp(dir=osp.dirname(root))
    try:
        write(tmp)
        os.rename(tmp, root)
    except OSError:
        if not osp.exists(root):
            raise
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _write_cifar_layout(root, per_class=dict(train=100, test=200)):
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits
    digits = load_digits()
    rng = np.random.default_rng(0)
    for label in range(10):
        idx = np.flatnonzero(digits.target == label)
        cut = int(len(idx) * 0.75)  # test images from scans never trained on
        for split, pool in (('train', idx[:cut]), ('test', idx[cut:])):
            folder = osp.join(root, split, str(label))
            os.makedirs(folder)
            for k in range(per_class[split]):
                scan = digits.images[pool[k % len(pool)]] / 16.0
                img = Image.fromarray((scan * 255).astype(np.uint8))
                gray = np.asarray(img.resize((28, 28), Image.BILINEAR)) / 255.
                canvas = np.zeros((32, 32))
                dy, dx = rng.integers(0, 5, 2)
                canvas[dy:dy + 28, dx:dx + 28] = gray
                color = rng.uniform(0.3, 1.0, 3)
                back = rng.uniform(0.0, 0.3, 3)
                rgb = canvas[...,
                             None] * color + (1 - canvas[..., None]) * back
                Image.fromarray((rgb * 255).astype(np.uint8)).save(
                    osp.join(folder, f'{k:04d}.jpg'), quality=90)


def _write_voc_layout(root, num_images=12, num_val=4):
    import numpy as np
    from mmseg.datasets import PascalVOCDataset
    from PIL import Image, ImageDraw
    palette = [c for rgb in PascalVOCDataset.METAINFO['palette'] for c in rgb]
    palette += [0] * (768 - len(palette))
    palette[255 * 3:] = [224, 224, 192]
    base = osp.join(root, 'VOCdevkit', 'VOC2012')
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(base, sub))
    rng = np.random.default_rng(0)
    names = []
    for i in range(num_images):
        h, w = int(rng.integers(96, 160)), int(rng.integers(128, 200))
        mask = Image.new('L', (w, h), 0)
        draw = ImageDraw.Draw(mask)
        for _ in range(int(rng.integers(1, 4))):
            cls = int(rng.integers(1, 21))
            x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
            box = [
                x0, y0, x0 + int(rng.integers(30, 80)),
                y0 + int(rng.integers(30, 80))
            ]
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape(box, fill=cls, outline=255, width=2)  # VOC's ignore border
        lab = np.asarray(mask)
        colors = rng.uniform(0, 255, (256, 3))
        img = colors[lab] * 0.7 + rng.normal(0, 20, (h, w, 3)) + 30
        name = f'2026_{i:06d}'
        names.append(name)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            osp.join(base, 'JPEGImages', name + '.jpg'), quality=90)
        png = Image.fromarray(lab.astype(np.uint8), mode='P')
        png.putpalette(palette)
        png.save(osp.join(base, 'SegmentationClass', name + '.png'))
    splits = dict(train=names[num_val:], val=names[:num_val], trainval=names)
    for split, part in splits.items():
        with open(
                osp.join(base, 'ImageSets', 'Segmentation', split + '.txt'),
                'w') as f:
            f.write('\n'.join(part) + '\n')


def _write_moco_checkpoint(root):
    """In a fresh process: a Runner leaves global state (scope, logger,
    visualizer) behind."""
    import subprocess
    code = (f'import sys; sys.path.insert(0, {REPO_ROOT!r})\n'
            'from mmengine.runner import Runner\n'
            'from coretune_mm.utils import load_tool\n'
            "cfg = load_tool('demo_digits.py').moco_cfg(\n"
            f'    {require_data(CIFAR_ROOT)!r}, {root!r}, epochs=1,\n'
            '    batch_size=64, seed=0)\n'
            'Runner.from_cfg(cfg).train()\n')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            'MoCo pretraining of the test checkpoint failed:\n' +
            proc.stderr[-3000:])


_WRITERS = {
    CIFAR_ROOT: (CIFAR_ROOT, _write_cifar_layout),
    VOC_ROOT: (osp.join(TEST_DATA, 'voc-drawn'), _write_voc_layout),
    MOCO_CKPT: (osp.join(TEST_DATA, 'moco'), _write_moco_checkpoint),
}


def require_data(path):
    """``path`` (CIFAR_ROOT, VOC_ROOT or MOCO_CKPT), written on first use."""
    folder, write = _WRITERS[path]
    _write_once(folder, write)
    assert osp.exists(path), path
    return path


@pytest.fixture
def cifar_root():
    return require_data(CIFAR_ROOT)


@pytest.fixture
def moco_ckpt():
    return require_data(MOCO_CKPT)


def one_hot(labels, num_classes):
    return torch.nn.functional.one_hot(torch.as_tensor(labels),
                                       num_classes).float()


# segmentation test helpers (test_seg.py, test_decode_heads.py,
# test_distributed.py)
NUM_CLASSES = 5
BN = dict(type='BN', requires_grad=True)


def feature_pyramid(batch=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(
            batch, c, size // s, size // s, generator=g, requires_grad=True)
        for c, s in ((8, 1), (16, 2), (32, 2), (64, 2))
    ]


def seg_samples(labels):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    out = []
    for lab in labels:
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=lab.unsqueeze(0).long())
        s.set_metainfo(dict(img_shape=lab.shape, ori_shape=lab.shape))
        out.append(s)
    return out


def random_labels(batch=2, size=16, seed=1, ignore_frac=0.2):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (batch, size, size), generator=g)
    labels[torch.rand(labels.shape, generator=g) < ignore_frac] = 255
    return labels


# --------------------------------------------------------------------------
# devices: every device test runs on the CPU, and on CUDA where there is
# one (skipped with the reason otherwise), as mmcv's own tests do
CUDA = torch.cuda.is_available()
DEVICES = [
    'cpu',
    pytest.param(
        'cuda', marks=pytest.mark.skipif(not CUDA, reason='requires CUDA'))
]


def _cpu_autocast_supports(dtype):
    """Whether CPU autocast runs ``dtype`` here (torch 2.1's refuses
    float16; newer releases have it)."""
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with torch.autocast('cpu', dtype=dtype):
                out = torch.ones(2, 2) @ torch.ones(2, 2)
        return out.dtype == dtype
    except RuntimeError:
        return False


CPU_FP16_AUTOCAST = _cpu_autocast_supports(torch.float16)
# (device, autocast dtype): the GPU's float16 and bfloat16, the CPU's
# bfloat16, and the CPU's float16 where this torch has it
AUTOCAST_CASES = [
    pytest.param('cpu', torch.bfloat16, id='cpu-bf16'),
    pytest.param(
        'cpu',
        torch.float16,
        id='cpu-fp16',
        marks=pytest.mark.skipif(
            not CPU_FP16_AUTOCAST,
            reason=f'torch {torch.__version__} has no float16 autocast on '
            'the CPU')),
    pytest.param(
        'cuda',
        torch.float16,
        id='cuda-fp16',
        marks=pytest.mark.skipif(not CUDA, reason='requires CUDA')),
    pytest.param(
        'cuda',
        torch.bfloat16,
        id='cuda-bf16',
        marks=pytest.mark.skipif(not CUDA, reason='requires CUDA')),
]


def grad_scaler(device, init_scale):
    """A torch GradScaler for ``device``: ``torch.amp.GradScaler`` where it
    exists (torch >= 2.3), ``torch.cuda.amp.GradScaler`` for CUDA before;
    a skip for the CPU on a torch without one."""
    if hasattr(torch.amp, 'GradScaler'):
        return torch.amp.GradScaler(device, init_scale=init_scale)
    if device == 'cuda':
        return torch.cuda.amp.GradScaler(init_scale=init_scale)
    pytest.skip(f'torch {torch.__version__} has no GradScaler for the CPU')
