"""The random streams of Core-tuning's draws (partners, mixing
coefficients, pixel sampling): different on every DDP rank, host-only
seeding."""
import random
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist


def mix_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed for a tuple of integers."""
    state = np.random.SeedSequence([int(p) % 2**63 for p in parts])
    hi, lo = state.generate_state(2, dtype=np.uint32)
    return ((int(hi) << 32) | int(lo)) >> 1


def current_rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


class RankGenerator:
    """A fresh seed and a ``torch.Generator`` for each call (each training
    step), different on every rank.

    * ``seed=None`` (default): the step's seed is one draw of Python's global
      ``random`` (which mmengine's ``randomness.seed`` seeds together with
      numpy's and torch's, and ``IterationSeedHook`` re-seeds every
      iteration for exact resume), mixed with the rank. The user's seeding
      therefore governs the draws, and ranks seeded alike
      (mmengine's default, without ``diff_rank_seed``) still draw
      differently: the global contrast never sees one set of draws copied
      ``world_size`` times.
    * ``seed=int``: a private CPU stream seeded with ``(seed, rank)``
      (reproducible draws, e.g. for tests; it restarts on resume).

    The seed lives on the host and no tensor is read to make it: seeding a
    device generator reads nothing back from the device.
    """

    def __init__(self, seed: Optional[int] = None):
        self.seed = seed
        self._stream: Optional[Tuple[int, random.Random]] = None
        self._generators: Dict[torch.device, torch.Generator] = {}

    def next_seed(self) -> int:
        rank = current_rank()
        if self.seed is None:
            base = random.getrandbits(62)  # Python's global RNG
        else:
            if self._stream is None or self._stream[0] != rank:
                self._stream = (rank, random.Random(mix_seed(self.seed, rank)))
            base = self._stream[1].getrandbits(62)
        return mix_seed(base, rank)

    def get(self, device: torch.device) -> Tuple[int, torch.Generator]:
        """``(seed, generator)``: this call's seed and a generator on
        ``device`` seeded with it."""
        seed = self.next_seed()
        device = torch.device(device)
        gen = self._generators.get(device)
        if gen is None:
            gen = self._generators[device] = torch.Generator(device=device)
        gen.manual_seed(seed)
        return seed, gen
