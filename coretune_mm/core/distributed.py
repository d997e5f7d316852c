"""Gathering rows across DDP ranks for the global-batch contrast."""
from typing import List, Optional, Tuple

import torch
import torch.distributed as dist


def get_world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def _row_counts(x: torch.Tensor) -> List[int]:
    n = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
    counts = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, n)
    return [int(c) for c in counts]


def _gather_padded(x: torch.Tensor, counts: List[int]) -> torch.Tensor:
    """All-gather (n_r, ...) tensors whose n_r may differ between ranks."""
    longest = max(counts)
    if x.shape[0] < longest:
        x = torch.cat([x, x.new_zeros((longest - x.shape[0], ) + x.shape[1:])])
    parts = [torch.empty_like(x) for _ in counts]
    dist.all_gather(parts, x.contiguous())
    return torch.cat([p[:c] for p, c in zip(parts, counts)])


class _GatherRows(torch.autograd.Function):
    """Concatenate every rank's rows; the gradient of this rank's rows is
    the sum over all ranks of the gradients their losses sent to them."""

    @staticmethod
    def forward(ctx, x, counts):
        ctx.counts, ctx.rank = counts, dist.get_rank()
        return _gather_padded(x, counts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = sum(ctx.counts[:ctx.rank])
        return grad[start:start + ctx.counts[ctx.rank]], None


def gather_rows(
        x: torch.Tensor,
        counts: Optional[List[int]] = None) -> Tuple[torch.Tensor, int]:
    """Rows of every rank in rank order, and this rank's offset in them.

    A collective: every rank must call it, whatever its number of rows.
    Differentiable when ``x`` requires grad (the backward is a collective
    too, so every rank must backpropagate through it).

    ``counts``: the number of rows of every rank, when already known on the
    host (e.g. from :func:`coretune_mm.core.decision.plan_step`); this
    rank's first ``counts[rank]`` rows are sent (0 for a rank with nothing
    to contribute) and no count exchange (a device sync) is needed.
    Without it the counts are exchanged first.
    """
    if counts is None:
        counts = _row_counts(x)
    else:
        x = x[:counts[dist.get_rank()]]
    offset = sum(counts[:dist.get_rank()])
    if x.requires_grad:
        return _GatherRows.apply(x, counts), offset
    return _gather_padded(x, counts), offset
