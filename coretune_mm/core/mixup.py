"""Hard pair generation by feature mixup (Core-tuning, Sec. 3.2)."""
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_features, check_targets
from .compat import host_to_device
from .generators import RankGenerator

HARD_POSITIVE_MODES = ('least_similar', 'anchor', 'anchor_class')
# modes whose hard positives are keyed by their anchor's class in the
# contrast (so they are positives of their anchor)
CLASS_KEYED_MODES = ('anchor_class', )
NEG_LAMBDA_MODES = ('clamp', 'rescale')


class HardPairs(NamedTuple):
    """Indices and mixing coefficients mined for one batch (all shape (N,)).

    Attributes:
        neg_partner: partner ``j`` of each anchor's hard negative.
        neg_lambda: weight of the partner in the hard negative.
        pos_index: ``p``, the least similar positive (``i`` if none); the
            anchor ``i`` itself with ``hard_positive='anchor'``.
        pos_negative: ``n``, the most similar negative.
        has_negative: whether ``n`` exists (else the hard positive is
            ``h_p``).
        pos_lambda: weight of ``h_p`` in the hard positive.
    """
    neg_partner: torch.Tensor
    neg_lambda: torch.Tensor
    pos_index: torch.Tensor
    pos_negative: torch.Tensor
    has_negative: torch.Tensor
    pos_lambda: torch.Tensor


def _sample_beta(alpha: float, n: int, like: torch.Tensor,
                 seed: Optional[int]) -> torch.Tensor:
    """``n`` draws of Beta(alpha, alpha), float32 on ``like``'s device.

    With a seed the draws are made on the host from a private
    ``torch.Generator`` seeded with it -- no global generator (CPU or CUDA)
    is seeded, read or advanced -- and reach the device through pinned
    memory without blocking (:func:`~coretune_mm.core.compat.
    host_to_device`). They are the draws ``torch.distributions.Beta`` makes
    after ``torch.manual_seed(seed)`` (the same Dirichlet sampler, the same
    CPU generator state), bit for bit. Without a seed, from the global RNG
    of ``like``'s device.
    """
    if seed is None:
        conc = torch.full((n, ), float(alpha), device=like.device)
        # validate_args=False: the checks would read the device back
        lam = torch.distributions.Beta(
            conc, conc, validate_args=False).sample()
        return lam.to(dtype=torch.float32)
    gen = torch.Generator(device='cpu')
    gen.manual_seed(seed)
    # Beta(a, b) is the first coordinate of Dirichlet((a, b)): what
    # torch.distributions.Beta.sample computes, with our generator
    conc = torch.full((n, 2), float(alpha))
    lam = torch._sample_dirichlet(conc, generator=gen).select(-1, 0)
    return host_to_device(lam.to(torch.float32), like.device)


def hard_negative_lambda(draws: torch.Tensor,
                         lambda_min: float,
                         mode: str = 'clamp') -> torch.Tensor:
    """Weight ``l`` of the partner in a hard negative, from Beta draws.

    The paper keeps a hard negative on the partner's side of the pair: the
    partner's weight lies in ``[lambda_min, 1]`` (``lambda_min = 0.8``) so the
    mixed row stays a negative of the anchor, while the anchor's share makes
    it hard. How a Beta(alpha, alpha) draw is brought into that interval is
    not spelled out in the paper, and the two forms differ:

    * ``'clamp'`` -- the official code: ``l = max(draw, lambda_min)``. With
      ``alpha = 1`` (uniform draws) 80 % of the hard negatives sit exactly
      on ``l = 0.8``; the rest are uniform on ``(0.8, 1]``.
    * ``'rescale'`` -- ``l = lambda_min + (1 - lambda_min) * draw``: the
      whole Beta shape mapped onto ``[lambda_min, 1]`` (uniform on
      ``[0.8, 1]`` for ``alpha = 1``; equal to the Beta draw restricted to
      that interval in that case).
    """
    if mode == 'clamp':
        return draws.clamp_min(lambda_min)
    if mode == 'rescale':
        return lambda_min + (1.0 - lambda_min) * draws
    raise ValueError(f'neg_lambda={mode!r} is not one of {NEG_LAMBDA_MODES}')


@torch.no_grad()
def mine_hard_pairs(h: torch.Tensor,
                    targets: torch.Tensor,
                    alpha: float = 1.0,
                    neg_lambda_min: float = 0.8,
                    random_negative_partner: bool = False,
                    generator: Optional[torch.Generator] = None,
                    hard_positive: str = 'least_similar',
                    neg_lambda: str = 'clamp',
                    seed: Optional[int] = None) -> HardPairs:
    """Choose partners and mixing coefficients (no gradient).

    One cosine-similarity matrix of ``h`` per call; the class of a (soft)
    row is its argmax.

    * Hard negative partner of anchor ``i``: a random ``j`` of a different
      class (any ``j != i`` when the batch has no other class; ``i`` itself
      for a batch of one). With ``random_negative_partner=True`` the partner
      is a random ``j`` of any class, as in the official code.
    * Hard positive of anchor ``i``: ``p`` = least similar same-class
      ``j != i`` (``i`` if none), ``n`` = most similar different-class
      sample. With ``hard_positive='anchor'``, ``p = i``: the anchor itself
      mixed with its most similar negative -- what the official code does
      in effect (its ``argmin`` over a similarity matrix whose non-positive
      entries are zeroed returns a zero entry, then mapped to the anchor,
      in almost every row). With ``hard_positive='anchor_class'``, ``p`` and
      ``n`` as in the default, but the weight of ``h_p`` is
      ``max(draw, 1 - draw)`` (in ``[0.5, 1]``: the row stays mostly the
      anchor's class); the contrast keys these rows by the anchor's class
      (:func:`hard_positive_key_targets`).
    * ``neg_lambda``: how the hard negatives' weights are brought into
      ``[neg_lambda_min, 1]`` (:func:`hard_negative_lambda`).
    * Randomness: the partner scores from ``generator`` (a generator on
      ``h``'s device; the global RNG when None), the Beta draws from
      ``seed`` (on the CPU; the global RNG when None).

    The similarities are computed in float32 whatever the autocast state
    (in bf16 the most similar negative changed in 2 of 64 rows).
    """
    if hard_positive not in HARD_POSITIVE_MODES:
        raise ValueError(f'hard_positive={hard_positive!r} is not one of '
                         f'{HARD_POSITIVE_MODES}')
    n = h.shape[0]
    device = h.device
    labels = targets.argmax(dim=1)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(n, dtype=torch.bool, device=device)
    not_self = ~eye
    positive = same & not_self
    negative = ~same

    with torch.autocast(device_type=device.type, enabled=False):
        hn = F.normalize(h.detach().float(), dim=1)
        sim = hn @ hn.t()

    # hard negatives: uniform random choice among the allowed partners
    if random_negative_partner:
        allowed = not_self
    else:
        allowed = torch.where(
            negative.any(dim=1, keepdim=True), negative, not_self)
    allowed = allowed | (eye & ~allowed.any(dim=1, keepdim=True))
    scores = torch.rand(n, n, device=device, generator=generator)
    neg_partner = scores.masked_fill(~allowed, -1.0).argmax(dim=1)
    neg_lam = hard_negative_lambda(
        _sample_beta(alpha, n, h, seed), neg_lambda_min, neg_lambda)

    # hard positives: least similar positive, most similar negative
    anchors = torch.arange(n, device=device)
    if hard_positive == 'anchor':
        pos_index = anchors
    else:
        has_positive = positive.any(dim=1)
        pos_index = sim.masked_fill(~positive, float('inf')).argmin(dim=1)
        pos_index = torch.where(has_positive, pos_index, anchors)
    has_negative = negative.any(dim=1)
    pos_negative = sim.masked_fill(~negative, float('-inf')).argmax(dim=1)
    pos_lambda = _sample_beta(alpha, n, h, None if seed is None else seed + 1)
    if hard_positive in CLASS_KEYED_MODES:
        pos_lambda = torch.maximum(pos_lambda, 1.0 - pos_lambda)
    pos_lambda = torch.where(has_negative, pos_lambda,
                             torch.ones_like(pos_lambda))
    return HardPairs(neg_partner, neg_lam, pos_index, pos_negative,
                     has_negative, pos_lambda)


def mix_hard_negatives(h: torch.Tensor, targets: torch.Tensor,
                       partner: torch.Tensor,
                       lam: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``z_neg = (1 - l) h_i + l h_j``, target ``(1 - l) y_i + l y_j``."""
    lam = lam.unsqueeze(1)
    z = (1 - lam.to(h.dtype)) * h + lam.to(h.dtype) * h[partner]
    y = (1 - lam.to(targets.dtype)) * targets + \
        lam.to(targets.dtype) * targets[partner]
    return z, y


def mix_hard_positives(h: torch.Tensor, targets: torch.Tensor,
                       pos_index: torch.Tensor, neg_index: torch.Tensor,
                       lam: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``z_pos = l h_p + (1 - l) h_n``, target ``l y_p + (1 - l) y_n``.

    ``lam = 1`` (no negative in the batch) gives ``z_pos = h_p`` exactly.
    """
    lam = lam.unsqueeze(1)
    z = lam.to(h.dtype) * h[pos_index] + (1 - lam.to(h.dtype)) * h[neg_index]
    y = lam.to(targets.dtype) * targets[pos_index] + \
        (1 - lam.to(targets.dtype)) * targets[neg_index]
    return z, y


def hard_positive_key_targets(targets: torch.Tensor,
                              row_targets: torch.Tensor) -> torch.Tensor:
    """Key rows of the contrast for ``HardMixup``'s ``3N`` rows when hard
    positives are keyed by their anchor (``hard_positive='anchor_class'``).

    The clean rows and the hard negatives keep their targets (the clean
    rows are keyed by class anyway under ``positives='argmax'``); hard
    positive ``2N + i`` is keyed by the one-hot of anchor ``i``'s (argmax)
    class, so it is a positive of its anchor and of the anchor's class --
    whatever its soft target, which the mixed CE still uses.
    """
    n = targets.shape[0]
    anchor = F.one_hot(targets.detach().argmax(dim=1),
                       targets.shape[1]).to(row_targets.dtype)
    return torch.cat([row_targets[:2 * n].detach(), anchor])


class HardMixup(nn.Module):
    """Hard pair mining by feature mixup.

    ``HardMixup(...)(h, targets)`` returns ``(features_3n, targets_3n)``:
    the rows ``[h ; z_neg ; z_pos]`` and their soft targets. Gradients flow
    through the mixed rows to ``h``.

    Args:
        alpha (float): Beta(alpha, alpha) for the mixing coefficients.
        neg_lambda_min (float): lower bound of the partner's weight in a hard
            negative (the anchor keeps at most ``1 - neg_lambda_min``).
        official (bool): reproduce two of the official code's choices for
            comparison: the hard-negative partner is a random sample of any
            class, and the clean rows are detached (no gradient through
            them). Combine with ``hard_positive='anchor'`` (and the default
            ``neg_lambda='clamp'``) for the official method as a whole.
        hard_positive (str): ``'least_similar'`` (the paper, default): the
            hard positive mixes the anchor's least similar positive with its
            most similar negative. ``'anchor'``: the anchor itself mixed with
            its most similar negative -- the effect of the official code's
            ``argmin`` over a zero-masked similarity matrix.
            ``'anchor_class'``: the paper's pair (least similar positive,
            most similar negative) with the positive's weight kept in
            ``[0.5, 1]`` and the row keyed in the contrast by its anchor's
            class, so it acts as a positive of its anchor. (With the
            other modes a hard positive's soft target is unique, so under
            identical-target positives it is nobody's positive and enters
            only the mixed CE and the contrast's denominators.)
        neg_lambda (str): ``'clamp'`` (official code, default) or
            ``'rescale'``; see :func:`hard_negative_lambda`.
        seed (int, optional): if set, mining draws from a private stream
            seeded with ``(seed, rank)`` (deterministic mixing, e.g. for
            tests); by default each step's draws are seeded from the global
            RNG and the rank (:class:`~coretune_mm.core.generators.
            RankGenerator`): reproducible under the run's seed, different on
            every DDP rank.
        enabled (bool): ``False`` returns ``(h, targets)`` unchanged -- the
            "no hard pair mining" ablation (contrast and CE on clean rows).
    """

    def __init__(self,
                 alpha: float = 1.0,
                 neg_lambda_min: float = 0.8,
                 official: bool = False,
                 seed: Optional[int] = None,
                 enabled: bool = True,
                 hard_positive: str = 'least_similar',
                 neg_lambda: str = 'clamp'):
        super().__init__()
        if hard_positive not in HARD_POSITIVE_MODES:
            raise ValueError(f'hard_positive={hard_positive!r} is not one of '
                             f'{HARD_POSITIVE_MODES}')
        if neg_lambda not in NEG_LAMBDA_MODES:
            raise ValueError(f'neg_lambda={neg_lambda!r} is not one of '
                             f'{NEG_LAMBDA_MODES}')
        self.hard_positive = hard_positive
        self.neg_lambda = neg_lambda
        if not alpha > 0:
            raise ValueError(f'alpha must be > 0, got {alpha}')
        if not 0.0 <= neg_lambda_min <= 1.0:
            raise ValueError(
                f'neg_lambda_min must lie in [0, 1], got {neg_lambda_min}')
        self.alpha = float(alpha)
        self.neg_lambda_min = float(neg_lambda_min)
        self.official = bool(official)
        self.seed = seed
        self.enabled = bool(enabled)
        self._generator = RankGenerator(seed)

    @property
    def class_keyed_positives(self) -> bool:
        """Whether the contrast keys hard positives by their anchor's class
        (read by ``core_tuning_step``)."""
        return self.hard_positive in CLASS_KEYED_MODES

    def extra_repr(self) -> str:
        return (f'alpha={self.alpha}, neg_lambda_min={self.neg_lambda_min}, '
                f'official={self.official}, seed={self.seed}, '
                f'enabled={self.enabled}, '
                f'hard_positive={self.hard_positive!r}, '
                f'neg_lambda={self.neg_lambda!r}')

    def mine(self,
             h: torch.Tensor,
             targets: torch.Tensor,
             validate: bool = True) -> HardPairs:
        if validate:
            check_features(h)
            check_targets(targets, h.shape[0])
        seed, generator = self._generator.get(h.device)
        return mine_hard_pairs(
            h,
            targets,
            alpha=self.alpha,
            neg_lambda_min=self.neg_lambda_min,
            random_negative_partner=self.official,
            generator=generator,
            hard_positive=self.hard_positive,
            neg_lambda=self.neg_lambda,
            seed=seed)

    def forward(self,
                h: torch.Tensor,
                targets: torch.Tensor,
                validate: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
        """``validate=False``: skip the input checks (each reads the device
        back); the training step has already checked the inputs with one
        collective read (:func:`coretune_mm.core.decision.plan_step`)."""
        if validate:
            check_features(h)
            check_targets(targets, h.shape[0])
        if not self.enabled:
            return h, targets
        pairs = self.mine(h, targets, validate=False)
        z_neg, y_neg = mix_hard_negatives(h, targets, pairs.neg_partner,
                                          pairs.neg_lambda)
        z_pos, y_pos = mix_hard_positives(h, targets, pairs.pos_index,
                                          pairs.pos_negative, pairs.pos_lambda)
        clean = h.detach() if self.official else h
        return torch.cat([clean, z_neg,
                          z_pos]), torch.cat([targets, y_neg, y_pos])
