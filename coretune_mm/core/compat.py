"""Torch-version differences the core needs, feature-detected (torch 2.0
and 2.1 -- what mmcv 2.1's CUDA wheels are built for -- to the newest)."""
from typing import Optional

import torch


def autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The autocast dtype in force for ``device_type``, ``None`` when
    autocast is off there.

    torch >= 2.4 has ``torch.is_autocast_enabled(device_type)`` and
    ``torch.get_autocast_dtype(device_type)``; older releases have one pair
    of functions per device (``is_autocast_enabled()`` /
    ``get_autocast_gpu_dtype()`` for CUDA, ``is_autocast_cpu_enabled()`` /
    ``get_autocast_cpu_dtype()`` for the CPU, and the XPU/HPU ones in their
    own modules).
    """
    if hasattr(torch, 'get_autocast_dtype'):
        if not torch.is_autocast_enabled(device_type):
            return None
        return torch.get_autocast_dtype(device_type)
    if device_type == 'cuda':
        enabled, get = torch.is_autocast_enabled, torch.get_autocast_gpu_dtype
    elif device_type == 'cpu':
        enabled = torch.is_autocast_cpu_enabled
        get = torch.get_autocast_cpu_dtype
    else:
        module = getattr(torch, device_type, None)
        enabled = getattr(module, f'is_autocast_{device_type}_enabled', None)
        get = getattr(module, f'get_autocast_{device_type}_dtype', None)
        if enabled is None or get is None:
            return None
    return get() if enabled() else None


def host_to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a host tensor to ``device`` without blocking the host: through
    pinned memory with ``non_blocking=True`` on CUDA (the caching host
    allocator keeps the pinned buffer alive until the copy is done); a
    no-op for a CPU ``device``."""
    device = torch.device(device)
    if device.type == 'cpu':
        return t
    if device.type == 'cuda':
        t = t.pin_memory()
    return t.to(device, non_blocking=True)
