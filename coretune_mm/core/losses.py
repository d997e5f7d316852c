"""The two loss equations of Core-tuning, in pure PyTorch."""
import torch
import torch.nn.functional as F

from .checks import check_features, check_targets

NORMALIZERS = ('official', 'supcon')


def positive_mask(targets: torch.Tensor) -> torch.Tensor:
    """(M, M) bool mask: ``j != i`` and ``targets[j]`` equals ``targets[i]``
    exactly.

    Rows are grouped with ``torch.unique(dim=0)``, which compares whole rows
    exactly -- unlike the official code's ``labels @ 10**arange(C)`` hashing,
    this holds for any number of classes.
    """
    _, group = torch.unique(targets, dim=0, return_inverse=True)
    mask = group.unsqueeze(0) == group.unsqueeze(1)
    mask.fill_diagonal_(False)
    return mask


def focal_supcon_loss(z: torch.Tensor,
                      targets: torch.Tensor,
                      temperature: float = 0.07,
                      gamma: float = 1.0,
                      normalizer: str = 'official') -> torch.Tensor:
    """Focal supervised contrastive loss ``L_con^f``.

    For rows ``i`` with at least one positive (``j != i`` whose target row is
    identical to row ``i``'s)::

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

    Returns:
        Tensor: scalar float32 loss; 0 connected to the graph of ``z`` when
        no row has a positive. Always computed in float32 (also under AMP).
    """
    check_features(z, 'projected features z')
    check_targets(targets, z.shape[0])
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    if not gamma >= 0:
        raise ValueError(f'gamma must be >= 0, got {gamma}')
    if normalizer not in NORMALIZERS:
        raise ValueError(f'normalizer must be one of {NORMALIZERS}, got '
                         f'{normalizer!r}')

    with torch.autocast(device_type=z.device.type, enabled=False):
        z = F.normalize(z.float(), dim=1)
        num_rows = z.shape[0]
        pos = positive_mask(targets)
        num_pos = pos.sum(dim=1)
        has_pos = num_pos > 0
        if not bool(has_pos.any()):
            return z.sum() * 0.0

        logits = z @ z.t() / temperature
        self_mask = torch.eye(num_rows, dtype=torch.bool, device=z.device)
        log_prob = logits - torch.logsumexp(
            logits.masked_fill(self_mask, float('-inf')), dim=1, keepdim=True)
        # 1 - p_ij, computed as -expm1(log p) for accuracy; the clamp keeps
        # the gradient of (1 - p)^gamma finite for gamma < 1 when p -> 1.
        weight = (-torch.expm1(log_prob)).clamp_min(1e-12).pow(gamma)
        terms = torch.where(pos, weight * log_prob, torch.zeros_like(logits))
        if normalizer == 'official':
            denom = torch.full_like(num_pos, num_rows, dtype=z.dtype)
        else:
            denom = num_pos.to(z.dtype).clamp_min(1.0)
        per_anchor = -terms.sum(dim=1) / denom
        return per_anchor[has_pos].mean()


def soft_target_cross_entropy(logits: torch.Tensor,
                              targets: torch.Tensor) -> torch.Tensor:
    """Mixed-label cross-entropy ``L_ce^m = mean_i -sum_c y_ic log
    softmax(s_i)_c`` (float32)."""
    if logits.dim() != 2 or logits.shape != targets.shape:
        raise ValueError(
            f'logits {tuple(logits.shape)} and targets '
            f'{tuple(targets.shape)} must both have shape (M, C)')
    with torch.autocast(device_type=logits.device.type, enabled=False):
        log_p = F.log_softmax(logits.float(), dim=1)
        return -(targets.float() * log_p).sum(dim=1).mean()
