"""The one host read of a Core-tuning training step, decided collectively.

Everything the step must know on the host -- how many rows each rank
contributes to the global contrast, and whether any rank's input is bad --
is packed in one small tensor, exchanged with one ``all_gather`` under DDP
and read with one ``tolist()``: one device synchronisation per step, and the
same answer on every rank. A rank never raises alone before a collective
(which would leave the others waiting in it): either every rank raises the
same error, or every rank skips the step together.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist

from .checks import (BAD_LABELS, BAD_TARGETS, NONFINITE_FEATURES,
                     check_features, check_targets, feature_problems,
                     target_problems)
from .compat import autocast_dtype
from .distributed import get_world_size

NONFINITE_MODES = ('auto', 'raise', 'skip')

DEFAULT_MESSAGES = {
    NONFINITE_FEATURES:
    'features contain NaN or inf values: Core-tuning cannot mine pairs or '
    'contrast non-finite features (check the learning rate, AMP loss '
    'scaling or the input data; under fp16 mixed precision, '
    "CoreLoss(nonfinite='skip') lets the loss scaler skip such steps)",
    BAD_TARGETS:
    'targets must be finite and non-negative, and each row must sum to 1 '
    '(one-hot or soft labels)',
    BAD_LABELS:
    'labels lie outside [0, num_classes)',
}


class StepPlan(NamedTuple):
    """What every rank agreed on.

    Attributes:
        counts: rows (samples or pixels) of each rank, in rank order.
        rank: this process's rank (0 without DDP).
        skip: non-finite features somewhere and ``nonfinite`` resolved to
            ``'skip'``: every rank returns non-finite losses, for the AMP
            loss scaler to skip the step.
        has_positive: whether some class has two or more samples in a
            contrast (the global batch when ``gather``, else some rank's
            own), i.e. whether any sample has a positive pair; ``None``
            when the plan was made without class counts.
    """
    counts: List[int]
    rank: int
    skip: bool
    has_positive: Optional[bool] = None

    def contrast_counts(self, gather: bool) -> List[int]:
        """The counts a contrast takes: every rank's when it gathers across
        ranks (``gather`` under DDP), else this rank's alone."""
        if gather and len(self.counts) > 1:
            return self.counts
        return [self.counts[self.rank]]


def check_nonfinite_mode(mode: str) -> None:
    if mode not in NONFINITE_MODES:
        raise ValueError(f'nonfinite must be one of {NONFINITE_MODES}, got '
                         f'{mode!r}')


def resolve_nonfinite(mode: str, device_type: str) -> str:
    """``'auto'`` -> ``'skip'`` under float16 autocast (where an overflow
    is the loss scaler's business), ``'raise'`` otherwise."""
    check_nonfinite_mode(mode)
    if mode != 'auto':
        return mode
    fp16 = autocast_dtype(device_type) == torch.float16
    return 'skip' if fp16 else 'raise'


def plan_step(num_rows: Union[int, torch.Tensor],
              problems: torch.Tensor,
              nonfinite: str = 'auto',
              messages: Dict[int, str] = DEFAULT_MESSAGES,
              class_counts: Optional[torch.Tensor] = None,
              gather: bool = True,
              labels: Optional[torch.Tensor] = None) -> StepPlan:
    """Exchange ``(num_rows, problems)`` between ranks and decide.

    A collective when a process group with more than one rank is
    initialised: every rank must call it, once per step (also when the
    contrast itself is per rank: a rank raising alone would leave the
    others waiting in DDP's gradient all-reduce).

    Args:
        num_rows: this rank's rows (a Python int or a 0-d tensor).
        problems: 0-d int64 tensor of problem bits (``checks.*``).
        nonfinite: ``'raise'``, ``'skip'`` or ``'auto'``
            (:func:`resolve_nonfinite`).
        messages: the error text of each problem bit.
        class_counts: (C,) samples of each class on this rank (read in the
            same exchange) for ``StepPlan.has_positive``; ``gather``: the
            contrast is over every rank's rows (their counts are summed).
        labels: (2,) smallest and largest label of this rank
            (:func:`~coretune_mm.core.checks.label_range`), read in the same
            exchange, so an out-of-range error names the labels it saw.

    Raises:
        ValueError: on every rank, with the same message, when any rank has
            a problem other than non-finite features in ``'skip'`` mode.
    """
    mode = resolve_nonfinite(nonfinite, problems.device.type)
    local = torch.stack([
        torch.as_tensor(num_rows, device=problems.device).long().reshape(()),
        problems.long().reshape(())
    ])
    extras = [
        t.long().reshape(-1) for t in (labels, class_counts) if t is not None
    ]
    if extras:
        local = torch.cat([local] + extras)
    world = get_world_size()
    if world > 1:
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local)
        table = torch.stack(parts).tolist()  # the step's one host read
        rank = dist.get_rank()
    else:
        table = [local.tolist()]  # the step's one host read
        rank = 0
    counts = [int(row[0]) for row in table]
    seen = [row[2:4] for row in table] if labels is not None else None
    has_positive = None
    if class_counts is not None:
        hists = [row[4 if labels is not None else 2:] for row in table]
        if gather:
            hists = [[sum(c) for c in zip(*hists)]]
        has_positive = any(c >= 2 for hist in hists for c in hist)
    table = [row[:2] for row in table]
    skip = False
    errors = []
    for bit in sorted(messages):
        ranks = [r for r, (_, p) in enumerate(table) if p & bit]
        if not ranks:
            continue
        if bit == BAD_TARGETS and any(p & BAD_LABELS for _, p in table):
            continue  # the all-zero rows of out-of-range labels: said below
        if bit == NONFINITE_FEATURES and mode == 'skip':
            skip = True
            continue
        where = f' (on rank {", ".join(map(str, ranks))} of {world})' \
            if world > 1 else ''
        if bit == BAD_LABELS and seen is not None:
            lo = min(seen[r][0] for r in ranks)
            hi = max(seen[r][1] for r in ranks)
            where = f'; saw labels from {lo} to {hi}' + where
        errors.append(messages[bit] + where)
    if errors:
        raise ValueError('; '.join(errors))
    return StepPlan(counts, rank, skip, has_positive)


def plan_call(features: Sequence[Tuple[str, torch.Tensor]],
              targets: torch.Tensor,
              nonfinite: str = 'raise') -> StepPlan:
    """The plan of a direct call of the public loss (not through a head's
    training step): the structure of the inputs is checked here, on this
    rank (a config error, alike on every rank), their values collectively
    with :func:`plan_step` -- so under DDP every rank raises the same error,
    or every rank skips, before any rank enters the feature gather.

    ``features``: ``(name, (N, D) tensor)`` pairs, each of N rows (the
    first is the one whose rows are counted).
    """
    for name, feats in features:
        check_features(feats, name, values=False)
    check_targets(targets, features[0][1].shape[0], values=False)
    bits = target_problems(targets)
    for _, feats in features:
        bits = bits | feature_problems(feats)
    return plan_step(features[0][1].shape[0], bits, nonfinite)
