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
    return torch.nn.functional.one_hot(
        torch.as_tensor(labels), num_classes).float()


def load_tool(relpath):
    """Import a script of tools/ (not a package) by its path."""
    import importlib.util
    path = osp.join(REPO_ROOT, 'tools', relpath)
    name = 'coretune_tool_' + relpath.replace('/', '_')[:-3]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
