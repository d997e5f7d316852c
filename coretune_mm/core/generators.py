from typing import Optional

import torch


class LazyGenerator:
    """A ``torch.Generator`` seeded with ``seed``, made on first use for the
    device asked for (and made anew if the device changes); ``None`` when
    ``seed`` is None, i.e. use the global RNG."""

    def __init__(self, seed: Optional[int]):
        self.seed = seed
        self._generator = None

    def get(self, device: torch.device) -> Optional[torch.Generator]:
        if self.seed is None:
            return None
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self.seed)
        return self._generator
