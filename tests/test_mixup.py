import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES, one_hot

from coretune_mm import HardMixup
from coretune_mm.core import labels_to_targets


def batch(n=24, d=16, num_classes=4, seed=0, device='cpu'):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g)
    labels = torch.arange(n) % num_classes
    return (h.to(device), labels.to(device), one_hot(labels,
                                                     num_classes).to(device))


def cosine(h):
    hn = F.normalize(h, dim=1)
    return hn @ hn.t()


@pytest.mark.parametrize('device', DEVICES)
def test_output_rows_and_formulas(device):
    h, labels, y = batch(device=device)
    mixup = HardMixup(seed=3)
    pairs = mixup.mine(h, y)
    mixup = HardMixup(seed=3)
    rows, targets = mixup(h, y)
    n = h.shape[0]
    assert rows.shape == (3 * n, h.shape[1]) and targets.shape == (3 * n, 4)
    assert torch.equal(rows[:n], h) and torch.equal(targets[:n], y)
    j, lam = pairs.neg_partner, pairs.neg_lambda[:, None]
    torch.testing.assert_close(rows[n:2 * n], (1 - lam) * h + lam * h[j])
    torch.testing.assert_close(targets[n:2 * n], (1 - lam) * y + lam * y[j])
    p, q, lam = pairs.pos_index, pairs.pos_negative, pairs.pos_lambda[:, None]
    torch.testing.assert_close(rows[2 * n:], lam * h[p] + (1 - lam) * h[q])
    torch.testing.assert_close(targets[2 * n:], lam * y[p] + (1 - lam) * y[q])


@pytest.mark.parametrize('device', DEVICES)
def test_hard_positive_is_least_similar_true_positive(device):
    h, labels, y = batch(n=30, num_classes=3, seed=1, device=device)
    pairs = HardMixup().mine(h, y)
    sim = cosine(h)
    for i in range(h.shape[0]):
        positives = [j for j in range(30) if j != i and labels[j] == labels[i]]
        negatives = [j for j in range(30) if labels[j] != labels[i]]
        p = int(pairs.pos_index[i])
        assert p != i and p in positives
        assert sim[i, p] == min(sim[i, j] for j in positives)
        q = int(pairs.pos_negative[i])
        assert q in negatives
        assert sim[i, q] == max(sim[i, j] for j in negatives)


@pytest.mark.parametrize('device', DEVICES)
def test_hard_negative_partner_is_other_class_and_lambda_bounds(device):
    h, labels, y = batch(n=40, num_classes=5, seed=2, device=device)
    mixup = HardMixup(alpha=1.0, neg_lambda_min=0.8)
    for _ in range(20):
        pairs = mixup.mine(h, y)
        assert (labels[pairs.neg_partner] != labels).all()
        assert (pairs.neg_lambda >= 0.8).all()
        assert (pairs.neg_lambda <= 1.0).all()
        assert ((pairs.pos_lambda >= 0) & (pairs.pos_lambda <= 1)).all()
    # the partner is random, not fixed
    partners = {tuple(mixup.mine(h, y).neg_partner.tolist()) for _ in range(5)}
    assert len(partners) > 1


def test_soft_target_class_is_argmax():
    h = torch.randn(4, 8)
    y = torch.tensor([[0.6, 0.4, 0.0], [0.3, 0.7, 0.0], [0.9, 0.1, 0.0],
                      [0.0, 0.2, 0.8]])
    pairs = HardMixup().mine(h, y)
    # rows 0 and 2 share class 0: each is the other's only positive
    assert pairs.pos_index.tolist()[0] == 2 and pairs.pos_index[2] == 0
    assert pairs.pos_index[1] == 1 and pairs.pos_index[3] == 3
    assert pairs.neg_partner[0] in (1, 3)


@pytest.mark.parametrize('device', DEVICES)
def test_gradients_reach_features(device):
    h, _, y = batch(device=device)
    h.requires_grad_()
    rows, _ = HardMixup()(h, y)
    n = h.shape[0]
    rows[n:].sum().backward()  # only the mixed rows
    assert h.grad is not None and h.grad.abs().sum() > 0


def test_official_mode_detaches_clean_rows_and_mixes_any_class():
    h, labels, y = batch(n=16, num_classes=2)
    h.requires_grad_()
    mixup = HardMixup(official=True)
    rows, _ = mixup(h, y)
    rows[:16].sum().backward()  # the clean rows carry no gradient
    assert h.grad is None or not h.grad.any()
    same_class_seen = any(
        bool((labels[mixup.mine(h, y).neg_partner] == labels).any())
        for _ in range(10))
    assert same_class_seen
    default_rows, _ = HardMixup()(h, y)
    assert default_rows[:16].requires_grad


def test_single_class_batch_falls_back():
    h, _, _ = batch(n=6)
    y = one_hot([2] * 6, 3)
    pairs = HardMixup().mine(h, y)
    assert (pairs.neg_partner != torch.arange(6)).all()
    assert not pairs.has_negative.any()
    rows, targets = HardMixup()(h, y)
    # no negative: z_pos = h_p exactly, target unchanged
    torch.testing.assert_close(rows[12:], h[pairs.pos_index])
    assert torch.equal(targets, y.repeat(3, 1))


def test_batch_of_one_is_defined():
    h = torch.randn(1, 8, requires_grad=True)
    y = one_hot([1], 3)
    rows, targets = HardMixup()(h, y)
    assert rows.shape == (3, 8)
    torch.testing.assert_close(rows, h.expand(3, 8))
    assert torch.equal(targets, y.repeat(3, 1))


@pytest.mark.parametrize('device', DEVICES)
def test_seed_makes_mixing_deterministic(device):
    h, _, y = batch(device=device)
    a = HardMixup(seed=7)(h, y)[0]
    b = HardMixup(seed=7)(h, y)[0]
    c = HardMixup(seed=8)(h, y)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_inputs():
    h, _, y = batch(n=4)
    with pytest.raises(ValueError, match='NaN or inf'):
        HardMixup()(h.index_fill(0, torch.tensor([2]), float('nan')), y)
    with pytest.raises(ValueError, match='has 3 rows but the features have 4'):
        HardMixup()(h, y[:3])
    with pytest.raises(ValueError, match=r'shape \(N, D\)'):
        HardMixup()(h[0], y)
    with pytest.raises(ValueError, match=r'label values must lie in \[0, 3\]'):
        labels_to_targets(torch.tensor([0, 4]), 4)
    with pytest.raises(ValueError, match='alpha must be > 0'):
        HardMixup(alpha=0)
    with pytest.raises(ValueError, match='neg_lambda_min must lie'):
        HardMixup(neg_lambda_min=1.5)


def test_disabled_mixup_is_identity_ablation():
    h, _, y = batch(n=6)
    rows, targets = HardMixup(enabled=False)(h, y)
    assert rows is h and targets is y
    with pytest.raises(ValueError, match='NaN or inf'):
        HardMixup(enabled=False)(h * float('nan'), y)


def hand_batch():
    """Six rows, three classes; in the (x, y) plane each row's most similar
    negative is known by construction (angles in degrees below)."""
    import math
    angles = [0, 10, 100, 120, 200, 250]  # classes 0 0 1 1 2 2
    h = torch.tensor([[math.cos(math.radians(a)),
                       math.sin(math.radians(a))] for a in angles])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    # most similar other-class row, by angle distance
    nearest_negative = torch.tensor([2, 2, 1, 4, 3, 0])
    return h, labels, one_hot(labels, 3), nearest_negative


def test_hard_positive_anchor_mode_on_hand_built_batch():
    h, labels, y, nearest_negative = hand_batch()
    mixup = HardMixup(hard_positive='anchor', seed=5)
    pairs = mixup.mine(h, y)
    assert pairs.pos_index.tolist() == list(range(6))
    assert pairs.pos_negative.tolist() == nearest_negative.tolist()
    rows, targets = HardMixup(hard_positive='anchor', seed=5)(h, y)
    lam = pairs.pos_lambda[:, None]
    q = nearest_negative
    # every anchor's hard positive: the anchor mixed with its most similar
    # negative, with the matching soft target
    torch.testing.assert_close(rows[12:], lam * h + (1 - lam) * h[q])
    torch.testing.assert_close(targets[12:], lam * y + (1 - lam) * y[q])
    assert ((targets[12:] > 0).sum(1) == 2).all()
    # the paper's default picks the other same-class row instead
    paper = HardMixup(seed=5).mine(h, y)
    assert paper.pos_index.tolist() == [1, 0, 3, 2, 5, 4]
    assert torch.equal(paper.pos_lambda, pairs.pos_lambda)


def test_anchor_mode_is_what_the_official_argmin_does():
    """The official code: argmin of (similarity * positive_mask), index 0
    mapped to the anchor. On a batch whose similarities are positive, its
    choice equals hard_positive='anchor' for every row whose class differs
    from row 0's."""
    h, labels, y, _ = hand_batch()
    h = h + 2.0  # all cosine similarities > 0
    same = labels[:, None] == labels[None, :]
    positive = (same & ~torch.eye(6, dtype=torch.bool)).float()
    sim = F.normalize(h, dim=1) @ F.normalize(h, dim=1).t()
    official = (sim * positive).argmin(dim=1)
    official = torch.where(official == 0, torch.arange(6), official)
    anchor = HardMixup(hard_positive='anchor').mine(h, y).pos_index
    rows_other_class = labels != labels[0]
    assert torch.equal(official[rows_other_class], anchor[rows_other_class])


def test_negative_lambda_forms():
    from coretune_mm.core import hard_negative_lambda
    draws = torch.tensor([0.1, 0.5, 0.9, 1.0])
    torch.testing.assert_close(
        hard_negative_lambda(draws, 0.8, 'clamp'),
        torch.tensor([0.8, 0.8, 0.9, 1.0]))
    torch.testing.assert_close(
        hard_negative_lambda(draws, 0.8, 'rescale'),
        torch.tensor([0.82, 0.9, 0.98, 1.0]))
    with pytest.raises(ValueError, match="neg_lambda='x' is not one of"):
        hard_negative_lambda(draws, 0.8, 'x')
    # same seed -> same Beta draws: clamp == max(draw, 0.8), where the
    # draw is recovered from the rescaled form
    h, _, y = batch(n=400, num_classes=4)
    c = HardMixup(seed=11).mine(h, y).neg_lambda
    r = HardMixup(seed=11, neg_lambda='rescale').mine(h, y).neg_lambda
    torch.testing.assert_close(c, ((r - 0.8) / 0.2).clamp_min(0.8))
    # alpha = 1: about 80 % of clamped draws sit on the bound, none of the
    # rescaled ones, which spread over [0.8, 1]
    assert 0.7 < float((c == 0.8).float().mean()) < 0.9
    assert not (r == 0.8).any() and r.min() >= 0.8 and r.max() <= 1.0
    assert 0.88 < float(r.mean()) < 0.92


def test_bad_fidelity_options():
    with pytest.raises(ValueError, match="hard_positive='argmin' is not one"):
        HardMixup(hard_positive='argmin')
    with pytest.raises(ValueError, match="neg_lambda='beta' is not one"):
        HardMixup(neg_lambda='beta')


def test_mining_similarities_are_float32_under_bf16_autocast():
    """Under CPU bf16 autocast the mined indices are those of float32
    similarities (a bf16 matmul picked another most-similar negative in a
    few rows of a 64-row batch)."""
    from coretune_mm.core import mine_hard_pairs
    h, _, y = batch(n=64, d=256, num_classes=8, seed=5)
    ref = mine_hard_pairs(h, y, generator=torch.Generator().manual_seed(0))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        # how far bf16 would move them: at least one row differs here
        hn = F.normalize(h, dim=1)
        bf16 = (hn @ hn.t()).float()
        pairs = mine_hard_pairs(
            h, y, generator=torch.Generator().manual_seed(0))
    negative = y.argmax(1)[:, None] != y.argmax(1)[None, :]
    moved = bf16.masked_fill(~negative, float('-inf')).argmax(1)
    assert not torch.equal(moved, ref.pos_negative)
    assert torch.equal(pairs.pos_negative, ref.pos_negative)
    assert torch.equal(pairs.pos_index, ref.pos_index)


@pytest.mark.parametrize('device', DEVICES)
def test_seeded_mixup_is_reproducible_and_differs_by_rank(device, monkeypatch):
    """HardMixup(seed=...) repeats its draws for the same rank and draws
    differently on another rank (its private stream is seeded with
    (seed, rank), on the host)."""
    from coretune_mm.core import generators
    h, _, y = batch(device=device)
    rows0, _ = HardMixup(seed=2)(h, y)
    assert torch.equal(HardMixup(seed=2)(h, y)[0], rows0)
    monkeypatch.setattr(generators, 'current_rank', lambda: 1)
    rows1, _ = HardMixup(seed=2)(h, y)
    assert torch.equal(rows0[:24], rows1[:24])
    assert not torch.equal(rows0[24:], rows1[24:])


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('seed', [None, 5])
def test_mixup_seeds_no_global_generator(seed, device, monkeypatch):
    """No CUDA seeding function is called by a forward (with or without a
    seed), and a seeded forward leaves the global CPU generator's state as
    it was; the Beta draws are those of torch.distributions.Beta after
    torch.manual_seed(step seed), bit for bit (so earlier runs' draws are
    unchanged)."""
    from coretune_mm.core import mixup as core_mixup
    calls = []
    for name in ('manual_seed', 'manual_seed_all', 'seed', 'seed_all'):
        original = getattr(torch.cuda, name)

        def record(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(torch.cuda, name, record)
    monkeypatch.setattr(
        torch, 'manual_seed', lambda *a: calls.append('torch.manual_seed') or
        pytest.fail('torch.manual_seed called'))
    h, _, y = batch(device=device)
    mixup = HardMixup(seed=seed)
    state = torch.get_rng_state()
    for _ in range(3):
        mixup(h, y)
    assert calls == []
    if seed is not None:
        assert torch.equal(torch.get_rng_state(), state)
    monkeypatch.undo()
    lam = core_mixup._sample_beta(1.0, 24, h, 1234)
    assert lam.device == h.device and lam.dtype == torch.float32
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        conc = torch.full((24, ), 1.0)
        ref = torch.distributions.Beta(conc, conc).sample()
    assert torch.equal(lam.cpu(), ref)


def test_host_draws_reach_the_device_without_blocking(monkeypatch):
    """The host-drawn mixing coefficients go to the device through pinned
    memory with non_blocking=True (CUDA); on the CPU nothing is copied."""
    from coretune_mm.core import compat
    t = torch.rand(4)
    assert compat.host_to_device(t, torch.device('cpu')) is t
    seen = []

    def fake_pin(self):
        seen.append('pin')
        return self

    def fake_to(self, device, non_blocking=False):
        seen.append(('to', str(device), non_blocking))
        return self

    monkeypatch.setattr(torch.Tensor, 'pin_memory', fake_pin)
    monkeypatch.setattr(torch.Tensor, 'to', fake_to)
    compat.host_to_device(t, torch.device('cuda', 0))
    assert seen == ['pin', ('to', 'cuda:0', True)]


@pytest.mark.parametrize('device', DEVICES)
def test_anchor_class_hard_positives_are_positives_of_their_anchor(device):
    """hard_positive='anchor_class': the paper's pair (least similar
    positive, most similar negative) with the positive's weight in
    [0.5, 1], keyed in the contrast by the anchor's class -- so every hard
    positive row is in its anchor's positive set, which under the default
    mode (unique soft targets) it never is."""
    from coretune_mm.core import hard_positive_key_targets
    from coretune_mm.core.losses import positive_keys, positive_mask
    h, labels, y = batch(n=32, num_classes=4, device=device)
    paper = HardMixup(seed=2).mine(h, y)
    mixup = HardMixup(seed=2, hard_positive='anchor_class')
    assert mixup.class_keyed_positives
    assert not HardMixup().class_keyed_positives
    pairs = mixup.mine(h, y)
    assert torch.equal(pairs.pos_index, paper.pos_index)
    assert torch.equal(pairs.pos_negative, paper.pos_negative)
    torch.testing.assert_close(
        pairs.pos_lambda, torch.maximum(paper.pos_lambda,
                                        1 - paper.pos_lambda))
    assert (pairs.pos_lambda >= 0.5).all()
    rows, targets = mixup(h, y)
    n = h.shape[0]
    keys = hard_positive_key_targets(y, targets)
    assert torch.equal(keys[:2 * n], targets[:2 * n])
    assert torch.equal(keys[2 * n:], y)
    anchors = torch.arange(n, device=device)
    with_keys = positive_mask(positive_keys(keys, 'argmax', n))
    assert with_keys[anchors, 2 * n + anchors].all()
    # the default keying: no hard positive is anyone's positive
    plain = positive_mask(positive_keys(targets, 'argmax', n))
    assert not plain[:, 2 * n:].any()


def test_anchor_class_keys_reach_the_contrast():
    """Through core_tuning_step: the contrast of 'anchor_class' equals
    focal_supcon_loss on the rows with the anchor-keyed targets, and
    differs from the same rows keyed by their soft targets."""
    from coretune_mm.core import (CoreLoss, ProjectionHead, core_tuning_step,
                                  focal_supcon_loss, hard_positive_key_targets)
    h, labels, y = batch(n=24, num_classes=4)
    torch.manual_seed(0)
    fc, proj = torch.nn.Linear(16, 4), ProjectionHead(16, None, 8)
    loss = CoreLoss(eta=1.0)
    losses, _ = core_tuning_step(
        h, y, HardMixup(seed=4, hard_positive='anchor_class'), fc, proj, loss)
    rows, targets = HardMixup(seed=4, hard_positive='anchor_class')(h, y)
    keyed = focal_supcon_loss(
        proj(rows),
        targets,
        num_clean=24,
        key_targets=hard_positive_key_targets(y, targets))
    unkeyed = focal_supcon_loss(proj(rows), targets, num_clean=24)
    torch.testing.assert_close(losses['con_unscaled'], keyed)
    assert (keyed - unkeyed).abs() > 1e-3
    with pytest.raises(ValueError, match='key_targets .* must have the shape'):
        focal_supcon_loss(proj(rows), targets, key_targets=y)
