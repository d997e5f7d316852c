"""The two loss equations of Core-tuning, in pure PyTorch."""
from typing import List, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .decision import plan_call
from .distributed import gather_rows, get_world_size

NORMALIZERS = ('official', 'supcon')
POSITIVE_RULES = ('argmax', 'exact')


def check_contrast_params(temperature: float, gamma: float,
                          normalizer: str) -> None:
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    if not gamma >= 0:
        raise ValueError(f'gamma must be >= 0, got {gamma}')
    if normalizer not in NORMALIZERS:
        raise ValueError(f'normalizer must be one of {NORMALIZERS}, got '
                         f'{normalizer!r}')


def positive_keys(targets: torch.Tensor,
                  positives: str = 'argmax',
                  num_clean: Optional[int] = None) -> torch.Tensor:
    """The target rows whose equality defines positive pairs.

    * ``'exact'``: the targets themselves -- rows are positives iff their
      (one-hot or soft) targets are identical (the paper's definition).
    * ``'argmax'`` (default): the first ``num_clean`` rows -- the batch's
      own samples, as the training step declares them -- are keyed by the
      one-hot of their argmax class, every other row (HardMixup's mixed
      rows) by its targets. ``num_clean=None`` declares no clean row, so a
      call that does not say which rows are the batch's own samples gets
      exactly ``'exact'``, the paper's definition. With hard labels both
      rules agree; with the soft labels of mmpretrain's Mixup / CutMix
      batch augments, where hardly two rows have equal targets, a sample's
      positives are the samples of its dominant class, so the contrastive
      term does not vanish.
    """
    if positives == 'exact':
        return targets
    if positives != 'argmax':
        raise ValueError(f'positives must be one of {POSITIVE_RULES}, got '
                         f'{positives!r}')
    n = 0 if num_clean is None else int(num_clean)
    if not 0 <= n <= targets.shape[0]:
        raise ValueError(f'num_clean={num_clean} must lie in [0, '
                         f'{targets.shape[0]}]')
    if n == 0:
        return targets
    clean = F.one_hot(targets[:n].argmax(dim=1),
                      targets.shape[1]).to(targets.dtype)
    return torch.cat([clean, targets[n:]])


# row_keys: the bits of each target row, in 16-bit chunks, hashed with two
# random linear hashes modulo the prime 2^31 - 1
KEY_PRIME = 2**31 - 1
_KEY_WEIGHTS = {}


def _key_weights(num_chunks: int, device: torch.device) -> torch.Tensor:
    """(2, K) int64 hash weights, uniform in [1, KEY_PRIME): drawn once per
    K from a fixed seed (the same on every rank and device), cached."""
    cached = _KEY_WEIGHTS.get((num_chunks, device))
    if cached is None:
        g = torch.Generator().manual_seed(0xC0DE + num_chunks)
        cached = torch.randint(
            1, KEY_PRIME, (2, num_chunks), generator=g,
            dtype=torch.int64).to(device)
        _KEY_WEIGHTS[(num_chunks, device)] = cached
    return cached


def row_keys(targets: torch.Tensor) -> torch.Tensor:
    """(M, 2) int64 keys of (M, C) target rows: equal rows get equal keys,
    distinct rows distinct keys (but for a 2^-62 chance per pair).

    Each row's float bits (float32, or float64 for float64 targets; -0 taken
    as +0) are cut into 16-bit chunks and hashed by two random linear
    hashes ``sum_k chunk_k w_k mod (2^31 - 1)`` in exact integer arithmetic.
    Identical rows give identical keys whatever the device, the batch shape
    or the summation order; two rows that differ in any bit differ in a
    chunk, and each hash then collides with probability 1 / (2^31 - 1) over
    the random weights -- a universal hash, with none of the additive
    structure of fixed weights (the earlier ``frac(c w)`` weights made mixes
    such as classes (1, 9) and (4, 6) at lambda 0.5 collide), and unlike the
    official ``labels @ 10**arange(C)`` no overflow for C > 19. No device
    sync.
    """
    t = targets.detach()
    t = (t if t.dtype == torch.float64 else t.float()) + 0.0
    bits = t.contiguous().view(torch.int32).long() & 0xFFFFFFFF
    chunks = torch.cat([bits >> 16, bits & 0xFFFF], dim=1)  # each < 2^16
    w = _key_weights(chunks.shape[1], chunks.device)
    # each product < 2^47; each term < 2^31, so the sum fits int64
    return torch.stack(
        [(chunks * w[k]).remainder_(KEY_PRIME).sum(dim=1) % KEY_PRIME
         for k in range(2)],
        dim=1)


def key_mask(keys: torch.Tensor,
             offset: int = 0,
             num_rows: Optional[int] = None) -> torch.Tensor:
    """(A, M) bool from (M, 2) :func:`row_keys`: row ``offset + i`` and row
    ``j`` are positives -- equal keys, ``j != offset + i``. ``num_rows``
    (A) defaults to the rows from ``offset`` on."""
    if num_rows is None:
        num_rows = keys.shape[0] - offset
    mine = keys[offset:offset + num_rows]
    pos = (mine.unsqueeze(1) == keys.unsqueeze(0)).all(dim=2)
    pos.diagonal(offset).fill_(False)
    return pos


def positive_mask(targets: torch.Tensor,
                  offset: int = 0,
                  num_rows: Optional[int] = None) -> torch.Tensor:
    """(A, M) bool: row ``offset + i`` and row ``j`` of ``targets`` (M, C)
    are positives -- identical target rows, ``j != offset + i``
    (:func:`row_keys`, :func:`key_mask`)."""
    return key_mask(row_keys(targets), offset, num_rows)


def focal_supcon_loss(
        z: torch.Tensor,
        targets: torch.Tensor,
        temperature: float = 0.07,
        gamma: float = 1.0,
        normalizer: str = 'official',
        gather_distributed: bool = False,
        positives: str = 'argmax',
        num_clean: Optional[int] = None,
        counts: Optional[List[int]] = None,
        key_targets: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Focal supervised contrastive loss ``L_con^f``.

    For rows ``i`` with at least one positive (``j != i`` whose key row is
    identical to row ``i``'s; keys from :func:`positive_keys`)::

        p_ij   = exp(z_i.z_j / t) / sum_{k != i} exp(z_i.z_k / t)
        l_i    = -(1 / K_i) * sum_{j in P(i)} (1 - p_ij)^gamma * log p_ij
        loss   = mean_i l_i

    with ``K_i = M`` (the number of rows, as in the official code;
    ``normalizer='official'``) or ``K_i = |P(i)|`` (the SupCon normaliser;
    ``normalizer='supcon'``).

    Args:
        z (Tensor): (M, d) projected features. They are L2-normalised here
            (a no-op for already normalised features), which keeps every
            logit bounded by ``1 / t``.
        targets (Tensor): (M, C) one-hot or soft targets.
        temperature (float): ``t`` > 0.
        gamma (float): focusing parameter >= 0; 0 gives plain SupCon terms.
        normalizer (str): ``'official'`` or ``'supcon'``.
        gather_distributed (bool): under an initialised process group with
            more than one rank, contrast against the rows of *all* ranks
            (gathered with gradients flowing back to each rank's own rows).
            Each rank then returns ``world_size * sum(l_i over its own
            anchors) / (number of anchors of all ranks)``: the mean over
            ranks -- which is what DDP's gradient averaging optimises -- is
            the loss of one process on the concatenated batch. Every rank
            must call it (collective).
        positives (str): the positive rule, ``'argmax'`` (default) or
            ``'exact'`` (:func:`positive_keys`).
        num_clean (int, optional): the first ``num_clean`` rows are the
            batch's own samples (``'argmax'`` keys them by class); ``None``
            (default): no row is declared clean and every row is keyed by
            its targets -- the paper's positives, identical targets.
        counts (list of int, optional): the valid rows of every rank (one
            entry without DDP), already agreed on by
            :func:`coretune_mm.core.decision.plan_step`, which has also
            validated the inputs: only the first ``counts[rank]`` rows of
            ``z`` take part (the others, e.g. a placeholder row of a rank
            with nothing to contrast, are masked out of every rank's
            contrast), and the call reads nothing back from the device.
            ``None`` (a direct call): the inputs are validated here, on
            every rank together (:func:`~coretune_mm.core.decision.
            plan_call`), so under DDP either every rank raises the same
            error or none does -- no rank is left waiting in the gather.
        key_targets (Tensor, optional): (M, C) rows whose equality defines
            the positives instead of ``targets`` (still under
            ``positives``), e.g. HardMixup's hard positives keyed by their
            anchor's class (:func:`~coretune_mm.core.mixup.
            hard_positive_key_targets`).

    Returns:
        Tensor: scalar float32 loss; 0 connected to the graph of ``z`` when
        no row has a positive. Always computed in float32 (also under AMP).
    """
    check_contrast_params(temperature, gamma, normalizer)
    world_size = get_world_size() if gather_distributed else 1
    if counts is None:
        # a direct call: its inputs are judged on every rank together
        plan = plan_call([('projected features z', z)], targets, 'raise')
        counts = plan.contrast_counts(gather_distributed)
    if len(counts) != world_size:
        raise ValueError(f'counts has {len(counts)} entries for '
                         f'{world_size} rank(s)')
    local_rows = counts[dist.get_rank() if world_size > 1 else 0]
    if key_targets is None:
        key_targets = targets
    elif key_targets.shape != targets.shape:
        raise ValueError(f'key_targets {tuple(key_targets.shape)} must have '
                         f'the shape of targets {tuple(targets.shape)}')
    keys = row_keys(positive_keys(key_targets.detach(), positives, num_clean))
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = F.normalize(z.float(), dim=1)
        connected = z.sum() * 0.0  # keeps every rank's graph alike
        if world_size > 1:
            if sum(counts) == 0:  # the same on every rank
                return connected
            z_all, offset = gather_rows(z, counts)
            keys_all, _ = gather_rows(keys, counts)
        else:
            z_all, offset, keys_all = z[:local_rows], 0, keys[:local_rows]
        terms, is_anchor = _focal_supcon_terms(z_all, keys_all, offset,
                                               local_rows, temperature, gamma,
                                               normalizer)
        num_anchors = is_anchor.sum()
        if world_size > 1:
            num_anchors = num_anchors.float()
            dist.all_reduce(num_anchors)  # anchors of every rank, no sync
        # 0 anchors (anywhere) -> 0, connected to the graph
        scale = world_size / num_anchors.clamp_min(1)
        # z_all is an input of the rows' Function, so every rank (also one
        # with no rows of its own) runs the gather's backward collective
        return (terms * is_anchor).sum() * scale + connected


class _FocalSupConRows(torch.autograd.Function):
    """Per-anchor sums ``sum_{j in P(i)} (1 - p_ij)^gamma log p_ij`` for the
    rows ``q`` of the normalised ``z`` against all of ``z``, dense and with a
    hand-written backward.

    Autograd through the dense ``(A, M)`` expression keeps about five
    ``(A, M)`` matrices alive until the backward pass; here only ``log p``
    and the bool positive mask are kept. With ``s_ik`` the logits,
    ``g_ij = (1-p_ij)^gamma - gamma (1-p_ij)^(gamma-1) p_ij log p_ij`` on the
    positive pairs (0 elsewhere) and ``G_i = sum_j g_ij``:
    ``d row_i / d s_ik = g_ik - p_ik G_i``.
    """

    @staticmethod
    def forward(ctx, q, z, pos, offset, temperature, gamma):
        logits = q @ z.t() / temperature
        # the anchor itself is not in its own softmax: exp(-inf) = 0
        logits.diagonal(offset).fill_(float('-inf'))
        # a row alone in the contrast (M = 1) has nothing in its softmax: a
        # finite normaliser keeps its (unused) entries NaN-free
        lse = torch.logsumexp(
            logits, dim=1).clamp_min(torch.finfo(logits.dtype).min)
        log_prob = logits.sub_(lse.unsqueeze(1))
        if gamma == 0:
            terms = log_prob
        else:
            # 1 - p as -expm1(log p) for accuracy
            weight = (-torch.expm1(log_prob)).clamp_min(1e-12)
            terms = weight * log_prob if gamma == 1 else \
                weight.pow(gamma) * log_prob
        rows = torch.where(pos, terms, terms.new_zeros(())).sum(dim=1)
        # one (A, M) matrix is kept (not the ~5 of autograd's graph), which
        # spares the backward a second similarity matmul
        ctx.save_for_backward(q, z, pos, log_prob)
        ctx.temperature, ctx.gamma = temperature, gamma
        return rows

    @staticmethod
    def backward(ctx, grad_rows):
        q, z, pos, log_prob = ctx.saved_tensors
        gamma, t = ctx.gamma, ctx.temperature
        prob = log_prob.exp()  # 0 on the diagonal
        if gamma == 0:
            g = pos.to(prob.dtype)
        else:
            one_minus = (-torch.expm1(log_prob)).clamp_min(1e-12)
            lp = log_prob.masked_fill(~pos, 0.0)  # no -inf on the diagonal
            if gamma == 1:
                g = one_minus - prob * lp
            else:
                g = one_minus.pow(gamma) - gamma * one_minus.pow(gamma -
                                                                 1) * prob * lp
            g = g.masked_fill(~pos, 0.0)
        grad_logits = (g - prob * g.sum(dim=1, keepdim=True)) * \
            (grad_rows.unsqueeze(1) / t)
        grad_q = grad_logits @ z if ctx.needs_input_grad[0] else None
        grad_z = grad_logits.t() @ q if ctx.needs_input_grad[1] else None
        return grad_q, grad_z, None, None, None, None


def _focal_supcon_terms(z: torch.Tensor, keys: torch.Tensor, offset: int,
                        num_rows: int, temperature: float, gamma: float,
                        normalizer: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """``l_i`` of the rows ``offset .. offset + num_rows`` of the normalised
    ``z`` (M, d), and whether each has a positive (is an anchor).

    Dense over those rows, so no shape depends on the data and nothing is
    read back from the device (:class:`_FocalSupConRows`).
    """
    pos = key_mask(keys, offset, num_rows)
    per_anchor = _FocalSupConRows.apply(z[offset:offset + num_rows], z, pos,
                                        offset, temperature, gamma)
    num_pos = pos.sum(dim=1)
    if normalizer == 'official':
        per_anchor = -per_anchor / z.shape[0]
    else:
        per_anchor = -per_anchor / num_pos.clamp_min(1).to(z.dtype)
    return per_anchor, num_pos > 0


def soft_target_cross_entropy(logits: torch.Tensor,
                              targets: torch.Tensor) -> torch.Tensor:
    """Mixed-label cross-entropy ``L_ce^m = mean_i -sum_c y_ic log
    softmax(s_i)_c`` (float32)."""
    if logits.dim() != 2 or logits.shape != targets.shape:
        raise ValueError(f'logits {tuple(logits.shape)} and targets '
                         f'{tuple(targets.shape)} must both have shape (M, C)')
    with torch.autocast(device_type=logits.device.type, enabled=False):
        log_p = F.log_softmax(logits.float(), dim=1)
        return -(targets.float() * log_p).sum(dim=1).mean()
