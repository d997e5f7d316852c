import numpy as np
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import set_random_seed


def iteration_seed(seed: int, iteration: int, rank: int) -> int:
    """A well-mixed 32-bit seed for (run seed, iteration, rank)."""
    state = np.random.SeedSequence([int(seed) % 2**63, iteration, rank])
    return int(state.generate_state(1, dtype=np.uint32)[0])


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Resume that loses nothing: re-seed python/numpy/torch from
    ``(runner.seed, iteration, rank)`` before every training iteration's
    step (``before_train_iter``), so the random stream of iteration ``k`` in
    the model (HardMixup's partners and coefficients, dropout, pixel
    sampling) does not depend on what ran before it.

    A run killed at any point and restarted with ``--resume`` therefore
    repeats, from its last checkpoint on, exactly the iterations of an
    uninterrupted run (with deterministic kernels and a fixed
    ``randomness.seed``), provided the data pipeline's randomness lives in
    data-loader workers (``num_workers >= 1``, the OpenMMLab default):
    mmengine seeds the workers from ``(seed, rank, worker id)`` and, on
    resume, replays the trained batches through them, so they produce the
    same batches. With ``num_workers=0`` random augmentations draw from the
    main process's generators, which the batches mmengine skips on resume
    advance differently; only public hook points are used, so that stream
    is not re-aligned. Components with a private generator
    (``HardMixup(seed=...)``, ``sample_seed``) restart it instead; leave
    those unset for exact resumption.
    """

    priority = 'LOWEST'

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        # python, numpy and torch (every device), as mmengine seeds a run
        set_random_seed(iteration_seed(runner.seed, runner.iter, get_rank()))
