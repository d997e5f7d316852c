"""CPU-ONLY ENVIRONMENT SHIMS -- not part of the ``coretune_mm`` package.

Installed into the CPU virtualenv by ``env/setup_cpu_env.sh`` (loaded from a
``.pth`` file at interpreter start-up). ``coretune_mm`` never imports this
module; on a GPU machine with the normal OpenMMLab install (CUDA torch +
torchvision, full mmcv) none of it is installed or needed.

What it works around (measured, see ``../shared/ENVIRONMENT.md``):

1. ``mmcv-lite`` has no compiled ``mmcv._ext``, but ``mmseg.models`` imports
   ``mmcv.ops.point_sample`` at import time. A stub ``mmcv._ext`` is provided
   *only when the real one is missing*; calling any compiled op raises a clear
   ``RuntimeError`` instead of silently doing something else.
2. The reachable torchvision wheel links CUDA and cannot load its ``_C`` ops
   against the CPU torch wheel, so ``import torchvision`` (done by mmpretrain)
   dies with ``operator torchvision::nms does not exist``. The two op schemas
   torchvision registers unconditionally are defined just before torchvision
   is first imported, and only on a CPU-only torch build.

(mmengine's pytorch launcher calls ``torch.cuda.set_device``, which fails on a
machine without a GPU with the CPU and with the CUDA torch build alike; that
is handled in the package -- ``coretune_mm.utils.init_distributed_without_
cuda`` starts the gloo group before the Runner does -- for every user, so no
shim hides it here.)

Everything is lazy: nothing heavy is imported at interpreter start-up.
"""
import importlib.abc
import importlib.machinery
import sys
import types

_TORCHVISION_LIB = []  # keep the torch.library.Library alive


class _MissingCompiledOp:

    def __init__(self, name):
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            f'mmcv compiled op "{self.__name__}" was called, but this is the '
            'CPU environment with mmcv-lite (no mmcv._ext). Install the full '
            'mmcv (`mim install "mmcv>=2.0.0,<2.2.0"`) to use compiled ops.')


class _StubExtModule(types.ModuleType):

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return _MissingCompiledOp(name)


class _StubExtLoader(importlib.abc.Loader):

    def create_module(self, spec):
        return _StubExtModule(spec.name)

    def exec_module(self, module):
        module.__coretune_cpu_stub__ = True


class _MmcvExtFallbackFinder(importlib.abc.MetaPathFinder):
    """Last on ``sys.meta_path``: answers only if nothing else found it."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != 'mmcv._ext':
            return None
        return importlib.machinery.ModuleSpec(
            fullname, _StubExtLoader(), origin='coretune-cpu-env-stub')


def _patch_torch_for_cpu():
    import torch
    if torch.version.cuda is not None or torch.version.hip is not None:
        return False
    lib = torch.library.Library('torchvision', 'DEF')
    lib.define(
        'nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    lib.define(
        'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    _TORCHVISION_LIB.append(lib)
    return True


class _TorchvisionPreImportFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: acts once, then defers to normal import."""

    def __init__(self):
        self._done = False

    def find_spec(self, fullname, path=None, target=None):
        if not self._done and fullname == 'torchvision':
            self._done = True
            _patch_torch_for_cpu()
        return None


def install():
    if not any(isinstance(f, _MmcvExtFallbackFinder) for f in sys.meta_path):
        sys.meta_path.append(_MmcvExtFallbackFinder())
        sys.meta_path.insert(0, _TorchvisionPreImportFinder())


install()
