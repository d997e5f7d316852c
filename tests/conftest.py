"""Shared test helpers (no `tests` package: the mmseg wheel ships one)."""
import os
import os.path as osp
import sys

import pytest
import torch

# no TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD: checkpoints load weights-only, with
# the mmengine types that `import coretune_mm` allow-lists
os.environ.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED = osp.join(osp.dirname(REPO_ROOT), 'shared')
CIFAR_ROOT = osp.join(SHARED, 'data', 'cifar10-jpg')
VOC_ROOT = osp.join(SHARED, 'data', 'voc-mini', 'VOCdevkit', 'VOC2012')
MOCO_CKPT = osp.join(SHARED, 'checkpoints',
                     'mocov2_resnet18w16-cifar10_8e.pth')
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def require_shared(path):
    """Skip (with the reason) when the ../shared test data is absent."""
    if not osp.exists(path):
        pytest.skip(f'test data not found: {path} (the ../shared folder '
                    'beside the checkout holds it; see README)')
    return path


@pytest.fixture
def cifar_root():
    return require_shared(CIFAR_ROOT)


@pytest.fixture
def moco_ckpt():
    return require_shared(MOCO_CKPT)


def one_hot(labels, num_classes):
    return torch.nn.functional.one_hot(torch.as_tensor(labels),
                                       num_classes).float()


def load_tool(relpath):
    """Import a script of tools/ (not a package) by its path."""
    import importlib.util
    path = osp.join(REPO_ROOT, 'tools', relpath)
    name = 'coretune_tool_' + relpath.replace('/', '_')[:-3]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
