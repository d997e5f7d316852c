from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ...core import CoreLoss


@HOOKS.register_module()
class ContrastiveInitHook(Hook):
    """COIN-style contrastive initialisation (Pan et al., "Improving
    Fine-tuning of Self-supervised Models with Contrastive Initialization",
    Neural Networks 2023), on top of Core-tuning: for the first ``ratio`` of
    the training iterations only the contrastive term trains (every
    ``CoreLoss``'s ``ce_weight`` is 0; ``loss_ce_mix`` is still reported),
    then the joint objective. This reuses Core-tuning's focal contrastive
    loss for the first stage, not COIN's exact loss. In segmentation the
    wrapped head's dense ``loss_ce`` is not affected.

    Args:
        ratio (float): fraction of ``max_iters`` in (0, 1).
    """

    def __init__(self, ratio: float = 0.1):
        if not 0.0 < ratio < 1.0:
            raise ValueError(f'ratio must lie in (0, 1), got {ratio}')
        self.ratio = ratio

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        weight = 0.0 if runner.iter < self.ratio * runner.max_iters else 1.0
        found = False
        for module in model.modules():
            if isinstance(module, CoreLoss):
                module.ce_weight = weight
                found = True
        if not found:
            raise RuntimeError('ContrastiveInitHook found no CoreLoss in the '
                               'model: use it with a Core-tuning head')
