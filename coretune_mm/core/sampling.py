"""Class-balanced pixel sampling for dense Core-tuning (pure PyTorch)."""
from typing import Optional, Tuple

import torch


def balanced_quota(counts: torch.Tensor, budget: int) -> torch.Tensor:
    """Per-class sample counts: every present class gets an equal share of
    ``budget``; what a small class cannot use is shared among the others
    (water-filling): ``min(counts, q)`` with the largest ``q`` whose total
    fits the budget, the rounding remainder going one each to the first
    classes that still have pixels, so the whole budget is used.

    Tensor operations only (no host read): the classes are sorted by size
    and, for each ``k``, the share left for the classes from the ``k``-th
    smallest on is computed at once; ``q`` is the share at the first class
    that does not fit in it (none: everything fits).
    """
    counts = counts.long()
    sorted_counts = counts.sort().values
    taken_before = torch.cumsum(sorted_counts, 0) - sorted_counts
    classes_left = torch.arange(counts.numel(), 0, -1, device=counts.device)
    share = torch.div(
        budget - taken_before, classes_left, rounding_mode='floor')
    overflow = sorted_counts > share
    q = torch.where(overflow.any(), share[overflow.long().argmax()],
                    counts.max())
    quota = counts.clamp(max=q)
    spare = counts > quota
    leftover = budget - quota.sum()
    return quota + (spare & (torch.cumsum(spare, 0) <= leftover)).long()


def sample_pixel_order(
    labels: torch.Tensor,
    num_classes: int,
    max_pixels: int,
    ignore_index: int = 255,
    generator: Optional[torch.Generator] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced sampling without a host read.

    Returns ``(order, num)``: a permutation of the ``P`` flat indices whose
    first ``num`` (a 0-d tensor, ``<= max_pixels``) are the chosen pixels,
    grouped by class in class order, uniformly random within a class
    (:func:`balanced_quota` shares); ``ignore_index`` pixels and labels
    outside ``[0, num_classes)`` are never chosen. Deterministic for a given
    generator state.
    """
    if labels.dim() != 1:
        raise ValueError(f'labels must be flat, got {tuple(labels.shape)}')
    if max_pixels <= 0:
        raise ValueError(f'max_pixels must be positive, got {max_pixels}')
    lab = labels.long()
    usable = (lab != ignore_index) & (lab >= 0) & (lab < num_classes)
    cls = torch.where(usable, lab, torch.full_like(lab, num_classes))
    counts = torch.zeros(
        num_classes + 1, dtype=torch.long,
        device=lab.device).index_add_(0, cls,
                                      torch.ones_like(cls))[:num_classes]
    quota = balanced_quota(counts, max_pixels)
    # sort by class, random within a class (unused pixels: class C, last)
    noise = torch.rand(
        lab.numel(),
        generator=generator,
        dtype=torch.float64,
        device=generator.device if generator is not None else lab.device).to(
            lab.device)
    order = torch.argsort(cls.double() + noise)
    sorted_cls = cls[order]
    starts = torch.cumsum(counts, 0) - counts
    pad = torch.zeros(1, dtype=torch.long, device=lab.device)
    rank = torch.arange(lab.numel(), device=lab.device) - \
        torch.cat([starts, pad])[sorted_cls]
    keep = rank < torch.cat([quota, pad])[sorted_cls]
    # chosen pixels first, order kept (a stable sort on a 0/1 key)
    order = order[torch.sort((~keep).to(torch.uint8), stable=True).indices]
    return order, keep.sum()


def sample_pixels(labels: torch.Tensor,
                  num_classes: int,
                  max_pixels: int,
                  ignore_index: int = 255,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Choose at most ``max_pixels`` indices into the flat ``labels``.

    Pixels labelled ``ignore_index`` are never chosen; every class present
    gets a share (:func:`balanced_quota`); within a class the pixels are a
    uniform random subset. Deterministic for a given generator state. No
    Python loop over pixels or images. (The training step uses
    :func:`sample_pixel_order`, which reads nothing back; this wrapper
    checks the labels and returns the chosen indices.)

    Args:
        labels (Tensor): flat (P,) integer labels.
        num_classes (int): labels must be in ``[0, num_classes)`` or
            ``ignore_index``.
        max_pixels (int): the budget (> 0).

    Returns:
        Tensor: (S,) long indices, S <= max_pixels, grouped by class.
    """
    valid = labels != ignore_index
    lab = labels[valid]
    if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= num_classes):
        raise ValueError(
            f'segmentation labels must lie in [0, {num_classes - 1}] or be '
            f'ignore_index={ignore_index}; got values in '
            f'[{int(lab.min())}, {int(lab.max())}]')
    order, num = sample_pixel_order(labels, num_classes, max_pixels,
                                    ignore_index, generator)
    return order[:int(num)]
