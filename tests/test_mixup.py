import pytest
import torch
import torch.nn.functional as F
from conftest import one_hot

from coretune_mm import HardMixup
from coretune_mm.core import labels_to_targets


def batch(n=24, d=16, num_classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g)
    labels = torch.arange(n) % num_classes
    return h, labels, one_hot(labels, num_classes)


def cosine(h):
    hn = F.normalize(h, dim=1)
    return hn @ hn.t()


def test_output_rows_and_formulas():
    h, labels, y = batch()
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


def test_hard_positive_is_least_similar_true_positive():
    h, labels, y = batch(n=30, num_classes=3, seed=1)
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


def test_hard_negative_partner_is_other_class_and_lambda_bounds():
    h, labels, y = batch(n=40, num_classes=5, seed=2)
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


def test_gradients_reach_features():
    h, _, y = batch()
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


def test_seed_makes_mixing_deterministic():
    h, _, y = batch()
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
