"""One Core-tuning training step on a batch of features, shared by the
classification and the segmentation heads."""
from typing import Callable, Dict, Optional, Tuple

import torch

from .checks import feature_problems, target_problems
from .core_loss import skipped_losses
from .decision import DEFAULT_MESSAGES, StepPlan, plan_step
from .mixup import hard_positive_key_targets


def class_counts(targets: torch.Tensor) -> torch.Tensor:
    """(C,) samples of each (argmax) class, on the device, without a host
    read (a fixed-size ``index_add_``, not ``bincount``)."""
    labels = targets.detach().argmax(dim=1)
    return torch.zeros(
        targets.shape[1], dtype=torch.long,
        device=targets.device).index_add_(0, labels, torch.ones_like(labels))


def core_tuning_step(
    h: torch.Tensor,
    targets: torch.Tensor,
    mixup: Callable,
    classifier: Callable,
    projector: Callable,
    core_loss: Callable,
    plan: Optional[StepPlan] = None,
    problems: Optional[torch.Tensor] = None,
    messages: Dict[int, str] = DEFAULT_MESSAGES,
    labels: Optional[torch.Tensor] = None,
) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
    """Hard pair mining -> smooth classifier -> projector -> ``CoreLoss``.

    The step reads the device back once (:func:`plan_step`: row counts and
    input problems of every rank, exchanged in one collective), so every
    rank takes the same path -- all raise the same error, or all skip a
    non-finite step (``core_loss.nonfinite``), or all contrast -- and the
    rest runs without host synchronisation. The same read says whether any
    class has two samples in the contrast; ``core_loss.
    observe_positive_pairs`` (``CoreLoss``: a warning after consecutive
    steps without any positive pair) is told.

    Args:
        h: (N, D) features (pooled image features, or sampled pixels).
        targets: (N, C) one-hot or soft targets.
        mixup: a :class:`HardMixup`: ``(h, targets) -> (rows, row_targets)``
            with the ``3N`` rows ``[h; z_neg; z_pos]``.
        classifier: the linear classifier applied to the rows.
        projector: the projection head (L2-normalised output).
        core_loss: a :class:`CoreLoss`.
        plan: the step's plan when the caller has already made it (the
            segmentation head does, since its pixel count is only known on
            the device); ``plan.counts[rank]`` may be 0 for a placeholder
            row that must not enter any rank's contrast.
        problems: extra problem bits (e.g. bad labels) for the plan made
            here; ``messages``: their error texts; ``labels``: the smallest
            and largest label (:func:`~coretune_mm.core.checks.label_range`)
            for the bad-label error.

    Returns:
        ``(losses, logits)``: ``dict(loss_ce_mix, loss_con)`` and the
        classifier's logits of the ``3N`` rows (the first ``N`` are the
        clean rows, e.g. for a training accuracy).
    """
    if plan is None:
        bits = feature_problems(h) | target_problems(targets)
        if problems is not None:
            bits = bits | problems
        plan = plan_step(
            h.shape[0],
            bits,
            getattr(core_loss, 'nonfinite', 'auto'),
            messages,
            class_counts=class_counts(targets),
            gather=getattr(core_loss, 'gather_distributed', True),
            labels=labels)
    observe = getattr(core_loss, 'observe_positive_pairs', None)
    if observe is not None and plan.has_positive is not None:
        observe(plan.has_positive)
    rows, row_targets = mixup(h, targets, validate=False)
    logits = classifier(rows)
    proj = projector(rows)
    if plan.skip:
        # every rank: non-finite losses for the loss scaler to skip the step
        return skipped_losses(logits, proj), logits
    factor = rows.shape[0] // h.shape[0]
    counts = [
        c * factor for c in plan.contrast_counts(
            getattr(core_loss, 'gather_distributed', True))
    ]
    extra = {}
    if factor == 3 and getattr(mixup, 'class_keyed_positives', False):
        # hard positives keyed by their anchor's class (positives of it)
        extra['key_targets'] = hard_positive_key_targets(targets, row_targets)
    losses = core_loss(
        logits,
        proj,
        row_targets,
        num_clean=h.shape[0],
        counts=counts,
        **extra)
    return losses, logits
