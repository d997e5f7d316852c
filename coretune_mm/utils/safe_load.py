"""Loading checkpoints with ``torch.load(weights_only=True)``.

mmengine 0.10.x checkpoints (``--resume``, ``load_from``, mmpretrain's own
self-supervised checkpoints) hold, besides tensors, the message hub's
``HistoryBuffer`` objects (whose ``statistics_methods`` are pickled as
``getattr(buffer, 'min')`` etc.) and numpy arrays and scalars. Exactly those
types are allow-listed for torch's safe (weights-only) unpickler; ``getattr``
is allowed only on a ``HistoryBuffer`` and only for its statistics methods.
Anything else -- a pickled custom object, an arbitrary callable -- is
refused; loading such a file needs an explicit, single-load opt-out
(:func:`load_checkpoint_file` with ``unsafe=True``, ``--unsafe-load`` in the
tools).

torch 2.0-2.5 have no allow-list of that form (torch 2.1's weights-only
load refuses a ``HistoryBuffer``); there the same globals are allowed by
:class:`RestrictedUnpickler`, handed to ``torch.load`` as its pickle module:
the same files load, the same files are refused, on every torch.
"""
import pickle
from typing import Any, Dict, List, Optional

import numpy as np
import torch

HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'mean', 'current'})
UNSAFE_HINT = 'pass --unsafe-load (only for files you trust)'


def add_unsafe_load_flag(parser, what: str = 'the checkpoint') -> None:
    """The tools' ``--unsafe-load`` flag (the one :data:`UNSAFE_HINT`
    names), for an ``argparse`` parser; ``what``: the argument it loads."""
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help=f'unpickle {what} fully (weights_only=False) for this load: '
        'needed for checkpoints that hold arbitrary Python objects; only '
        'for files you trust')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as mmengine checkpoints use it: a statistics method of
    ``HistoryBuffer`` (the class or an instance), nothing else."""
    from mmengine.logging import HistoryBuffer
    if (obj is HistoryBuffer or isinstance(obj, HistoryBuffer)) and \
            name in HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    shown = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    raise pickle.UnpicklingError(
        f'refused getattr({shown}, {name!r}) in a checkpoint: only '
        'HistoryBuffer statistics methods are allowed')


def mmengine_safe_globals() -> List[Any]:
    """The globals an mmengine checkpoint needs besides tensors."""
    from mmengine.logging import HistoryBuffer
    if int(np.__version__.split('.')[0]) >= 2:
        from numpy._core import multiarray
    else:
        from numpy.core import multiarray
    globals_ = [
        HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct,
        multiarray.scalar, (_history_buffer_getattr, 'builtins.getattr')
    ]
    # numpy >= 1.25 pickles dtypes as numpy.dtypes.<Name>DType classes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        globals_ += [
            getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')
        ]
    # both module paths a numpy array may be pickled under (numpy 1 / 2)
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        globals_ += [(multiarray._reconstruct, f'{module}._reconstruct'),
                     (multiarray.scalar, f'{module}.scalar')]
    return globals_


# torch >= 2.6: an allow-list for the weights-only unpickler that takes
# ``(callable, 'module.name')`` pairs (``add_safe_globals`` came in 2.4, its
# pair form and ``get_unsafe_globals_in_checkpoint`` in 2.6). Before that,
# :func:`load_checkpoint_file` uses :class:`RestrictedUnpickler`.
NATIVE_ALLOW_LIST = hasattr(torch.serialization, 'add_safe_globals') and \
    hasattr(torch.serialization, 'get_unsafe_globals_in_checkpoint')

_ALLOWED = False


def allow_mmengine_checkpoints() -> None:
    """Allow-list :func:`mmengine_safe_globals` for every weights-only load
    of this process (mmengine's ``load_from`` / ``--resume`` included, which
    load weights-only by default from torch 2.6 on). Idempotent. (Not
    torch's ``safe_globals`` context manager: leaving it removes the globals
    again, also when they had been allowed before.)

    A no-op on torch < 2.6: there ``torch.load`` unpickles fully by default
    (mmengine's own loads work as they always did), and this package's
    loads go through :class:`RestrictedUnpickler`."""
    global _ALLOWED
    if NATIVE_ALLOW_LIST and not _ALLOWED:
        torch.serialization.add_safe_globals(mmengine_safe_globals())
        _ALLOWED = True


def _torch_weights_only_globals() -> Dict[str, Any]:
    """What torch's own weights-only unpickler allows (tensors, storages,
    dtypes, ``OrderedDict`` ...), by ``'module.name'``."""
    from collections import OrderedDict
    unpickler = getattr(torch, '_weights_only_unpickler', None)
    allowed = getattr(unpickler, '_get_allowed_globals', None)
    if allowed is not None:
        return dict(allowed())
    rc = {
        'collections.OrderedDict': OrderedDict,
        'torch.Size': torch.Size,
        'torch.Tensor': torch.Tensor,
        'torch.nn.parameter.Parameter': torch.nn.Parameter
    }
    for name in ('_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_parameter',
                 '_rebuild_parameter_with_state'):
        if hasattr(torch._utils, name):
            rc[f'torch._utils.{name}'] = getattr(torch._utils, name)
    for t in torch.storage._dtype_to_storage_type_map():
        rc[str(t)] = t
    return rc


class RestrictedUnpickler(pickle.Unpickler):
    """The weights-only load of torch < 2.6: a standard unpickler whose
    ``find_class`` returns only what torch's weights-only unpickler allows
    plus :func:`mmengine_safe_globals` (the "restricting globals" pattern of
    Python's ``pickle`` documentation). ``torch.load`` subclasses it
    (``pickle_module=``) for its storages; any other global -- a custom
    class, an arbitrary callable -- is refused with the error torch's own
    unpickler gives."""
    _allowed: Optional[Dict[str, Any]] = None

    @classmethod
    def allowed(cls) -> Dict[str, Any]:
        if cls._allowed is None:
            rc = _torch_weights_only_globals()
            # plain constructors that torch >= 2.6 allows too: bytes of
            # numpy arrays pickled with protocol 2 (_codecs.encode), sets
            import codecs
            from collections import Counter
            rc.update({
                '_codecs.encode': codecs.encode,
                'builtins.set': set,
                'builtins.frozenset': frozenset,
                'builtins.bytearray': bytearray,
                'builtins.complex': complex,
                'collections.Counter': Counter
            })
            for item in mmengine_safe_globals():
                obj, name = item if isinstance(item, tuple) else (
                    item, f'{item.__module__}.{item.__qualname__}')
                rc[name] = obj
            cls._allowed = rc
        return cls._allowed

    def find_class(self, module: str, name: str) -> Any:
        # protocol 2 (torch.save's) writes Python 2 names for builtins
        # (``__builtin__.getattr``); map them as pickle's own find_class does
        import _compat_pickle
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        obj = self.allowed().get(f'{module}.{name}')
        if obj is None:
            raise pickle.UnpicklingError(
                f'Unsupported global: GLOBAL {module}.{name}')
        return obj


class _RestrictedPickleModule:
    """The ``pickle_module`` handed to ``torch.load``."""
    __name__ = 'coretune_restricted_pickle'
    Unpickler = RestrictedUnpickler
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def load(file, **kwargs):
        return RestrictedUnpickler(file, **kwargs).load()


# a legacy (torch < 1.6) checkpoint starts with this pickled magic number
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c.to_bytes(10, 'little')


def _checkpoint_format(path: str) -> Optional[str]:
    """``'zip'`` (torch >= 1.6), ``'legacy'`` or ``None`` (neither)."""
    import zipfile
    if zipfile.is_zipfile(path):
        return 'zip'
    with open(path, 'rb') as f:
        head = f.read(16)
    if head[:2] == b'\x80\x02' and _LEGACY_MAGIC in head:
        return 'legacy'
    return None


def _unpickler_reason(lines: List[str]) -> str:
    """The informative line of an unpickling error (torch's weights-only
    errors wrap it in paragraphs of advice)."""
    lines = [ln.strip() for ln in lines if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith('Weights only load failed'):
            continue
        if ln.endswith('WeightsUnpickler error:') and i + 1 < len(lines):
            return lines[i + 1]
        if 'WeightsUnpickler error:' in ln:
            return ln.split('WeightsUnpickler error:')[1].strip()
    return lines[0] if lines else 'no reason given'


def load_checkpoint_file(path: str,
                         unsafe: bool = False,
                         map_location: Any = 'cpu') -> Any:
    """Load ``path`` weights-only (tensors, containers and mmengine's
    checkpoint types); ``unsafe=True`` unpickles everything for this one
    load.

    Raises:
        ValueError: ``path`` is not a PyTorch checkpoint, or a corrupted
            one (said as such, whatever ``unsafe``).
        pickle.UnpicklingError: it holds objects a weights-only load
            refuses; the message names ``--unsafe-load``.
    """
    fmt = _checkpoint_format(path)
    if fmt is None:
        raise ValueError(
            f'{path} is not a PyTorch checkpoint (neither the zip archive '
            'torch.save writes nor a legacy torch pickle): a wrong path, or '
            'a corrupted or truncated download')
    try:
        if unsafe:
            return torch.load(
                path, map_location=map_location, weights_only=False)
        if NATIVE_ALLOW_LIST:
            allow_mmengine_checkpoints()
            return torch.load(
                path, map_location=map_location, weights_only=True)
        return torch.load(
            path,
            map_location=map_location,
            weights_only=False,
            pickle_module=_RestrictedPickleModule)
    except pickle.UnpicklingError as e:
        reason = str(e).strip().splitlines()
        detail = next((ln.strip() for ln in reason
                       if 'Unsupported global' in ln or 'refused' in ln), None)
        if detail is None or unsafe:
            raise ValueError(f'{path} is a corrupted checkpoint (unpickling '
                             f'failed: {_unpickler_reason(reason)})') from e
        detail = detail.split('. Please use')[0]
        raise pickle.UnpicklingError(
            f'{path} holds objects that a weights-only load refuses '
            f'({detail}); {UNSAFE_HINT}') from None
    except (OSError, MemoryError):
        raise
    except Exception as e:  # the parser choked: the bytes are not torch's
        lines = str(e).strip().splitlines()
        raise ValueError(
            f'{path} is a corrupted checkpoint (torch.load failed: '
            f'{type(e).__name__}: {_unpickler_reason(lines)})') from e
