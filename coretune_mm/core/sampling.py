"""Class-balanced pixel sampling for dense Core-tuning (pure PyTorch)."""
from typing import Optional

import torch


def balanced_quota(counts: torch.Tensor, budget: int) -> torch.Tensor:
    """Per-class sample counts: every present class gets an equal share of
    ``budget``; what a small class cannot use is shared among the others
    (water-filling): ``min(counts, q)`` with the largest ``q`` whose total
    fits the budget, the rounding remainder going one each to the first
    classes that still have pixels, so the whole budget is used."""
    if int(counts.sum()) <= budget:
        return counts.clone()
    sorted_counts = counts[counts > 0].sort().values.tolist()
    remaining, classes_left = budget, len(sorted_counts)
    share = 0
    for c in sorted_counts:  # at most num_classes steps
        share = remaining // classes_left
        if c > share:
            break
        remaining -= c
        classes_left -= 1
    quota = counts.clamp(max=share)
    spare = counts > quota
    leftover = budget - int(quota.sum())
    return quota + (spare & (torch.cumsum(spare, 0) <= leftover)).long()


def sample_pixels(labels: torch.Tensor,
                  num_classes: int,
                  max_pixels: int,
                  ignore_index: int = 255,
                  generator: Optional[torch.Generator] = None
                  ) -> torch.Tensor:
    """Choose at most ``max_pixels`` indices into the flat ``labels``.

    Pixels labelled ``ignore_index`` are never chosen; every class present
    gets a share (:func:`balanced_quota`); within a class the pixels are a
    uniform random subset. Deterministic for a given generator state. No
    Python loop over pixels or images.

    Args:
        labels (Tensor): flat (P,) integer labels.
        num_classes (int): labels must be in ``[0, num_classes)`` or
            ``ignore_index``.
        max_pixels (int): the budget (> 0).

    Returns:
        Tensor: (S,) long indices, S <= max_pixels, grouped by class.
    """
    if labels.dim() != 1:
        raise ValueError(f'labels must be flat, got {tuple(labels.shape)}')
    if max_pixels <= 0:
        raise ValueError(f'max_pixels must be positive, got {max_pixels}')
    valid = labels != ignore_index
    idx = valid.nonzero(as_tuple=True)[0]
    lab = labels[idx].long()
    if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= num_classes):
        raise ValueError(
            f'segmentation labels must lie in [0, {num_classes - 1}] or be '
            f'ignore_index={ignore_index}; got values in '
            f'[{int(lab.min())}, {int(lab.max())}]')
    if lab.numel() == 0:
        return idx
    counts = torch.bincount(lab, minlength=num_classes)
    quota = balanced_quota(counts, max_pixels)
    # random order, then a stable sort by class: rank within class is random
    perm = torch.randperm(
        lab.numel(), generator=generator,
        device=generator.device if generator is not None else lab.device)
    perm = perm.to(lab.device)
    order = perm[torch.sort(lab[perm], stable=True).indices]
    sorted_lab = lab[order]
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(lab.numel(), device=lab.device) - starts[sorted_lab]
    keep = rank < quota[sorted_lab]
    return idx[order[keep]]
