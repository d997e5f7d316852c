import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import IterBasedTrainLoop


def iteration_seed(seed: int, iteration: int, rank: int) -> int:
    """A well-mixed 32-bit seed for (run seed, iteration, rank)."""
    state = np.random.SeedSequence([int(seed) % 2**63, iteration, rank])
    return int(state.generate_state(1, dtype=np.uint32)[0])


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # every device


class _ReseedAfterSkip:
    """Wraps the loop's data iterator while mmengine skips the batches a
    resumed run already trained on, then re-seeds and steps aside."""

    def __init__(self, loop, skip, reseed):
        self.loop, self.iterator = loop, loop.dataloader_iterator
        self.left, self.reseed = skip, reseed

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self.iterator)
        self.left -= 1
        if self.left == 0:
            self.reseed()
            self.loop.dataloader_iterator = self.iterator
        return batch


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Resume that loses nothing: re-seed python/numpy/torch from
    ``(runner.seed, iteration, rank)`` before every training iteration's data
    is fetched, so the random stream of iteration ``k`` (data augmentation in
    the main process, HardMixup's partners and coefficients, dropout) does
    not depend on what ran before it.

    A run killed at any point and restarted with ``--resume`` therefore
    repeats, from its last checkpoint on, exactly the iterations of an
    uninterrupted run (with deterministic kernels; a fixed
    ``randomness.seed``). Data-loader workers are seeded by mmengine as usual
    and replay the same stream on resume. Components with a private
    generator (``HardMixup(seed=...)``, ``sample_seed``) restart it instead;
    leave those unset for exact resumption.

    Iteration-based loops: mmengine advances the data iterator past the
    trained batches after ``before_train_epoch``; the re-seed for the first
    resumed iteration happens right after that skip.
    """

    priority = 'LOWEST'  # after_train_iter: after checkpoints and logging

    def __init__(self):
        self._started = False

    def _reseed(self, runner, iteration: int) -> None:
        seed_all(iteration_seed(runner.seed, iteration, get_rank()))

    def before_train_epoch(self, runner) -> None:
        loop = runner.train_loop
        if (not self._started and isinstance(loop, IterBasedTrainLoop)
                and runner.iter > 0):
            iteration = runner.iter
            loop.dataloader_iterator = _ReseedAfterSkip(
                loop, iteration, lambda: self._reseed(runner, iteration))
        else:
            self._reseed(runner, runner.iter)
        self._started = True

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        # runner.iter is incremented after these hooks: seed the next one
        self._reseed(runner, runner.iter + 1)

    def after_val_epoch(self, runner, metrics=None) -> None:
        # a validation in the middle of training (which a resumed run does
        # not repeat) must not shift the stream of the next iteration
        if self._started:
            self._reseed(runner, runner.iter)
