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
"""
import pickle
from typing import Any, List

import numpy as np
import torch

HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'mean', 'current'})
UNSAFE_HINT = 'pass --unsafe-load (only for files you trust)'


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


_ALLOWED = False


def allow_mmengine_checkpoints() -> None:
    """Allow-list :func:`mmengine_safe_globals` for every weights-only load
    of this process (mmengine's ``load_from`` / ``--resume`` included).
    Idempotent. (Not torch's ``safe_globals`` context manager: leaving it
    removes the globals again, also when they had been allowed before.)"""
    global _ALLOWED
    if not _ALLOWED:
        torch.serialization.add_safe_globals(mmengine_safe_globals())
        _ALLOWED = True


def load_checkpoint_file(path: str,
                         unsafe: bool = False,
                         map_location: Any = 'cpu') -> Any:
    """Load ``path`` weights-only (mmengine's types allowed); ``unsafe=True``
    unpickles everything for this one load."""
    if unsafe:
        return torch.load(path, map_location=map_location, weights_only=False)
    allow_mmengine_checkpoints()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = str(e).strip().splitlines()
        detail = next((ln.strip() for ln in reason
                       if 'Unsupported global' in ln or 'refused' in ln),
                      reason[0] if reason else '')
        detail = detail.split('. Please use')[0]
        raise pickle.UnpicklingError(
            f'{path} holds objects that a weights-only load refuses '
            f'({detail}); {UNSAFE_HINT}') from None
