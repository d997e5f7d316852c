import warnings
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from .decision import check_nonfinite_mode, plan_call
from .losses import (POSITIVE_RULES, check_contrast_params, focal_supcon_loss,
                     soft_target_cross_entropy)

# The lowest temperature a CoreLoss accepts. The logits of the contrast are
# cosines over t, bounded by 1/t: below 0.01 the softmax is a hard max, a
# misranked positive costs about 2/t and its gradient grows like 1/t^2, so
# the contrastive term swamps the cross-entropy (t = 1e-8 logged loss_con
# 347565). The paper uses 0.07; SupCon's useful range is about 0.05-0.5.
MIN_TEMPERATURE = 0.01
# consecutive training steps without any positive pair before CoreLoss warns
NO_POSITIVE_WARN_STEPS = 10


class CoreLoss(nn.Module):
    """Core-tuning objective ``L = L_ce^m + eta * L_con^f``.

    Takes the classifier logits and the projected features of the ``3N``
    rows produced by :class:`HardMixup` and their ``3N`` soft targets, and
    returns ``dict(loss_ce_mix=..., loss_con=..., con_unscaled=...)`` -- the
    same keys on every call (``loss_con`` is a graph-connected 0 when nothing
    can be contrasted), so distributed ranks never disagree.
    ``con_unscaled`` is ``L_con^f`` before ``eta`` (and ``loss_weight``)
    scale it, detached: logged beside the two terms so the balance of the
    objective is visible, and not summed into it (mmengine sums only the
    keys that contain "loss").

    Args:
        eta (float): weight of the contrastive term.
        temperature (float): contrastive temperature ``t``.
        gamma (float): focal focusing parameter.
        normalizer (str): ``'official'`` (1/M) or ``'supcon'`` (1/|P(i)|).
        loss_weight (float): multiplies both terms (OpenMMLab convention).
        gather_distributed (bool): under DDP, contrast over the global batch
            (every rank's rows; see :func:`focal_supcon_loss`). Defaults to
            True; it has no effect in a single process.
        ce_weight (float): weight of ``L_ce^m`` (1 in the paper); a
            schedule such as ``ContrastiveInitHook`` (COIN) changes it
            during training. The key stays present when it is 0.
        positives (str): which rows are positives of each other.
            ``'argmax'`` (default): the batch's own samples by their
            argmax class, the mixed rows by exact target equality --
            identical to ``'exact'`` with hard labels, and it keeps the
            contrastive term alive under mmpretrain's Mixup/CutMix batch
            augments, whose soft targets are almost never exactly equal.
            ``'exact'``: exact target equality for every row (with soft
            batch-augment labels nearly no row keeps a positive).
        nonfinite (str): what a training step does when some rank's
            features are NaN/inf -- decided on every rank together
            (:func:`coretune_mm.core.decision.plan_step`), so no rank is left
            waiting in the feature gather. ``'raise'``: every rank raises the
            same ``ValueError`` naming the ranks. ``'skip'``: every rank
            returns non-finite losses, so an AMP loss scaler
            (``AmpOptimWrapper``) skips the step and lowers its scale --
            only with a loss scaler, which plain ``OptimWrapper`` lacks.
            ``'auto'`` (default): ``'skip'`` under float16 autocast,
            ``'raise'`` otherwise.

    A warning (once) when :data:`NO_POSITIVE_WARN_STEPS` consecutive
    training steps had no positive pair -- no class with two samples in the
    contrast, e.g. batches of 1 or 2 images: the contrastive term is then 0
    (or, for a batch of one, a constant without gradient) and Core-tuning
    reduces to its mixed-label CE.
    """

    def __init__(self,
                 eta: float = 0.1,
                 temperature: float = 0.07,
                 gamma: float = 1.0,
                 normalizer: str = 'official',
                 loss_weight: float = 1.0,
                 gather_distributed: bool = True,
                 ce_weight: float = 1.0,
                 positives: str = 'argmax',
                 nonfinite: str = 'auto'):
        super().__init__()
        if not eta >= 0:
            raise ValueError(f'eta must be >= 0, got {eta}')
        check_contrast_params(temperature, gamma, normalizer)
        if temperature < MIN_TEMPERATURE:
            raise ValueError(
                f'temperature={temperature} is below {MIN_TEMPERATURE}: the '
                'contrast\'s logits are cosines / temperature, so its softmax '
                'becomes a hard max and the loss and its gradients grow like '
                '1/temperature and 1/temperature^2, swamping the '
                'cross-entropy (the paper uses 0.07)')
        if positives not in POSITIVE_RULES:
            raise ValueError(f'positives must be one of {POSITIVE_RULES}, '
                             f'got {positives!r}')
        check_nonfinite_mode(nonfinite)
        self.positives = positives
        self.nonfinite = nonfinite
        self.eta = float(eta)
        self.temperature = float(temperature)
        self.gamma = float(gamma)
        self.normalizer = normalizer
        self.loss_weight = float(loss_weight)
        self.gather_distributed = bool(gather_distributed)
        self.ce_weight = float(ce_weight)
        self._steps_without_positive = 0
        self._warned_no_positive = False

    def observe_positive_pairs(self, has_positive: bool) -> None:
        """Told by the training step whether its contrast had any positive
        pair; warns once after :data:`NO_POSITIVE_WARN_STEPS` steps in a
        row without one."""
        self._steps_without_positive = 0 if has_positive else \
            self._steps_without_positive + 1
        if self._steps_without_positive >= NO_POSITIVE_WARN_STEPS and \
                not self._warned_no_positive:
            self._warned_no_positive = True
            warnings.warn(
                f'CoreLoss: {self._steps_without_positive} training steps in '
                'a row without a positive pair (no class had two samples in '
                'the contrast): the contrastive term is off and Core-tuning '
                'is training its mixed-label cross-entropy alone. Use a '
                'larger batch (a few times num_classes; under DDP the global '
                'batch counts when gather_distributed=True).', UserWarning)

    def extra_repr(self) -> str:
        return (f'eta={self.eta}, temperature={self.temperature}, '
                f'gamma={self.gamma}, normalizer={self.normalizer!r}, '
                f'gather_distributed={self.gather_distributed}, '
                f'positives={self.positives!r}, '
                f'nonfinite={self.nonfinite!r}')

    def forward(
            self,
            logits: torch.Tensor,
            proj: torch.Tensor,
            targets: torch.Tensor,
            num_clean: Optional[int] = None,
            counts: Optional[List[int]] = None,
            key_targets: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """``num_clean``: the first rows that are the batch's own samples
        (``HardMixup``'s clean rows); ``None`` (default): no row is declared
        clean, so positives are rows with identical targets (the paper's
        definition) whatever ``positives`` says. ``counts``: the contrasted
        rows of every rank as agreed by ``plan_step`` (the training step
        passes them; see :func:`focal_supcon_loss`); ``None`` (a direct
        call): the inputs are judged here, on every rank together, with
        ``nonfinite`` deciding what non-finite values do. ``key_targets``:
        rows that define the positive pairs instead of ``targets`` (see
        :func:`focal_supcon_loss`)."""
        if not (logits.shape[0] == proj.shape[0] == targets.shape[0]):
            raise ValueError(
                f'logits ({logits.shape[0]} rows), projected features '
                f'({proj.shape[0]} rows) and targets ({targets.shape[0]} '
                'rows) must describe the same rows')
        if counts is None:
            plan = plan_call([('projected features', proj),
                              ('logits', logits)], targets, self.nonfinite)
            if plan.skip:
                return skipped_losses(logits, proj)
            counts = plan.contrast_counts(self.gather_distributed)
        loss_ce = soft_target_cross_entropy(logits, targets)
        loss_con = focal_supcon_loss(
            proj,
            targets,
            temperature=self.temperature,
            gamma=self.gamma,
            normalizer=self.normalizer,
            gather_distributed=self.gather_distributed,
            positives=self.positives,
            num_clean=num_clean,
            counts=counts,
            key_targets=key_targets)
        return dict(
            loss_ce_mix=self.loss_weight * self.ce_weight * loss_ce,
            loss_con=self.loss_weight * self.eta * loss_con,
            con_unscaled=loss_con.detach())


def skipped_losses(logits: torch.Tensor,
                   proj: torch.Tensor) -> Dict[str, torch.Tensor]:
    """The losses of a step that every rank skips (non-finite features
    under ``nonfinite='skip'``): NaN, connected to the graph, for the AMP
    loss scaler to skip the step and lower its scale."""
    nan = float('nan')
    return dict(
        loss_ce_mix=logits.float().sum() * nan,
        loss_con=proj.float().sum() * nan,
        con_unscaled=proj.new_full((), nan, dtype=torch.float32))
