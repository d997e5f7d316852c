"""Input validation shared by the Core-tuning core: bad input fails loudly."""
from typing import Optional

import torch


def check_features(feats: torch.Tensor,
                   name: str = 'features',
                   values: bool = True) -> None:
    """Require a finite floating-point (N, D) matrix with N >= 1.

    ``values=False``: the structure only (type, shape, dtype), without
    reading the device back; the values are then checked collectively
    (:func:`feature_problems`, :func:`coretune_mm.core.decision.plan_step`).
    """
    if not isinstance(feats, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(feats)}')
    if feats.dim() != 2:
        raise ValueError(f'{name} must have shape (N, D), got '
                         f'{tuple(feats.shape)}')
    if feats.shape[0] == 0 or feats.shape[1] == 0:
        raise ValueError(f'{name} is empty: shape {tuple(feats.shape)}')
    if not feats.is_floating_point():
        raise TypeError(f'{name} must be floating point, got {feats.dtype}')
    if values and not bool(torch.isfinite(feats).all()):
        raise ValueError(
            f'{name} contain NaN or inf values: Core-tuning cannot mine '
            'pairs or contrast non-finite features (check the learning rate, '
            'AMP loss scaling or the input data)')


def check_targets(targets: torch.Tensor,
                  num_rows: int,
                  name: str = 'targets',
                  values: bool = True) -> None:
    """Require (N, C) one-hot or soft targets: finite, >= 0, rows summing
    to 1. ``values=False``: the structure only (see
    :func:`check_features`; :func:`target_problems` checks the values)."""
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(targets)}')
    if targets.dim() != 2:
        raise ValueError(
            f'{name} must be one-hot or soft targets of shape (N, C), got '
            f'{tuple(targets.shape)}; convert class indices with '
            'coretune_mm.core.labels_to_targets(labels, num_classes)')
    if targets.shape[0] != num_rows:
        raise ValueError(f'{name} has {targets.shape[0]} rows but the '
                         f'features have {num_rows}')
    if not targets.is_floating_point():
        raise TypeError(f'{name} must be floating point, got {targets.dtype}')
    if not values:
        return
    if not bool(torch.isfinite(targets).all()) or bool((targets < 0).any()):
        raise ValueError(f'{name} must be finite and non-negative')
    sums = targets.sum(dim=1)
    if not bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-3)):
        bad = int((sums - 1).abs().argmax())
        raise ValueError(f'each row of {name} must sum to 1 (one-hot or soft '
                         f'label); row {bad} sums to {float(sums[bad]):.4f}')


def labels_to_targets(labels: torch.Tensor,
                      num_classes: int,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Class indices (N,) -> one-hot targets (N, C), with range checks."""
    if labels.dim() != 1:
        raise ValueError(f'labels must have shape (N,), got '
                         f'{tuple(labels.shape)}')
    if labels.is_floating_point():
        raise TypeError(f'labels must be integer class indices, got '
                        f'{labels.dtype}')
    if labels.numel() and (int(labels.min()) < 0
                           or int(labels.max()) >= num_classes):
        raise ValueError(
            f'label values must lie in [0, {num_classes - 1}] for '
            f'num_classes={num_classes}; got min {int(labels.min())}, max '
            f'{int(labels.max())}')
    return labels_to_targets_unchecked(labels, num_classes, dtype)


# --------------------------------------------------------------------------
# Sync-free checks for the training step. Each returns a 0-d int64 tensor of
# problem bits (0: fine) without reading it on the host; the step reads all
# of them at once, collectively (:func:`coretune_mm.core.decision.plan_step`).

NONFINITE_FEATURES = 1
BAD_TARGETS = 2
BAD_LABELS = 4


def feature_problems(feats: torch.Tensor) -> torch.Tensor:
    """``NONFINITE_FEATURES`` if ``feats`` holds NaN/inf."""
    return (~torch.isfinite(feats).all()).long() * NONFINITE_FEATURES


def target_problems(targets: torch.Tensor) -> torch.Tensor:
    """``BAD_TARGETS`` unless every row is finite, >= 0 and sums to 1."""
    finite = torch.isfinite(targets).all(dim=1)
    ok = finite & (targets >= 0).all(dim=1) & (
        (targets.sum(dim=1) - 1).abs() <= 1e-3)
    return (~ok).any().long() * BAD_TARGETS


def label_problems(labels: torch.Tensor,
                   num_classes: int,
                   ignore_index: Optional[int] = None) -> torch.Tensor:
    """``BAD_LABELS`` if a label (other than ``ignore_index``) lies outside
    ``[0, num_classes)``."""
    bad = (labels < 0) | (labels >= num_classes)
    if ignore_index is not None:
        bad = bad & (labels != ignore_index)
    return bad.any().long() * BAD_LABELS


def label_range(labels: torch.Tensor,
                ignore_index: Optional[int] = None) -> torch.Tensor:
    """(2,) int64: the smallest and largest label (``ignore_index``
    excluded), without a host read -- read with the step's plan to name
    the labels an out-of-range error saw."""
    labels = labels.long().reshape(-1)
    valid = torch.ones_like(labels, dtype=torch.bool) \
        if ignore_index is None else labels != ignore_index
    big = torch.iinfo(torch.long).max
    lo = torch.where(valid, labels, labels.new_full((), big)).min() \
        if labels.numel() else labels.new_full((), big)
    hi = torch.where(valid, labels, labels.new_full((), -big)).max() \
        if labels.numel() else labels.new_full((), -big)
    return torch.stack([lo, hi])


def labels_to_targets_unchecked(
        labels: torch.Tensor,
        num_classes: int,
        dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """:func:`labels_to_targets` without the host-side range check: an
    out-of-range label gives an all-zero row (flag it with
    :func:`label_problems`)."""
    labels = labels.long()
    inside = (labels >= 0) & (labels < num_classes)
    targets = torch.zeros(
        labels.shape[0], num_classes, dtype=dtype, device=labels.device)
    targets.scatter_(1, labels.clamp(0, num_classes - 1).unsqueeze(1), 1.0)
    return targets * inside.unsqueeze(1).to(dtype)
