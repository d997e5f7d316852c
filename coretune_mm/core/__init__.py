"""Pure-PyTorch Core-tuning core (no OpenMMLab imports).

Shared by the classification (mmpretrain) and segmentation (mmseg) adapters.
Each equation of the paper lives in one function:

* :func:`focal_supcon_loss` -- the focal supervised contrastive loss
  ``L_con^f`` (Eq. 3 of arXiv 2102.06605);
* :func:`mix_hard_negatives` / :func:`mix_hard_positives` -- hard pair
  generation by feature mixup (Sec. 3.2);
* :func:`soft_target_cross_entropy` -- the smooth classifier's mixed-label
  cross-entropy ``L_ce^m``;
* :class:`CoreLoss` -- ``L = L_ce^m + eta * L_con^f``;
* :func:`core_tuning_step` -- mix -> classifier -> projector -> CoreLoss,
  the one training step both heads run; its one host read is
  :func:`plan_step` (row counts and input problems of every rank, decided
  collectively).
"""
from .checks import check_features, labels_to_targets
from .core_loss import CoreLoss
from .decision import StepPlan, plan_step
from .losses import focal_supcon_loss, soft_target_cross_entropy
from .mixup import (HardMixup, HardPairs, hard_negative_lambda,
                    hard_positive_key_targets, mine_hard_pairs,
                    mix_hard_negatives, mix_hard_positives)
from .projector import ProjectionHead
from .sampling import balanced_quota, sample_pixel_order, sample_pixels
from .scatter import feature_scatter
from .step import core_tuning_step

__all__ = [
    'CoreLoss', 'HardMixup', 'HardPairs', 'ProjectionHead', 'StepPlan',
    'balanced_quota', 'check_features', 'core_tuning_step', 'feature_scatter',
    'plan_step', 'sample_pixel_order', 'sample_pixels', 'focal_supcon_loss',
    'hard_negative_lambda', 'labels_to_targets', 'mine_hard_pairs',
    'mix_hard_negatives', 'mix_hard_positives', 'hard_positive_key_targets',
    'soft_target_cross_entropy'
]
