"""One Core-tuning training step on a batch of features, shared by the
classification and the segmentation heads."""
from typing import Callable, Dict, Tuple

import torch


def core_tuning_step(
    h: torch.Tensor, targets: torch.Tensor, mixup: Callable,
    classifier: Callable, projector: Callable, core_loss: Callable
) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
    """Hard pair mining -> smooth classifier -> projector -> ``CoreLoss``.

    Args:
        h: (N, D) features (pooled image features, or sampled pixels).
        targets: (N, C) one-hot or soft targets.
        mixup: a :class:`HardMixup`: ``(h, targets) -> (rows, row_targets)``
            with the ``3N`` rows ``[h; z_neg; z_pos]``.
        classifier: the linear classifier applied to the rows.
        projector: the projection head (L2-normalised output).
        core_loss: a :class:`CoreLoss`.

    Returns:
        ``(losses, logits)``: ``dict(loss_ce_mix, loss_con)`` and the
        classifier's logits of the ``3N`` rows (the first ``N`` are the
        clean rows, e.g. for a training accuracy).
    """
    rows, row_targets = mixup(h, targets)
    logits = classifier(rows)
    losses = core_loss(logits, projector(rows), row_targets,
                       num_clean=h.shape[0])
    return losses, logits
