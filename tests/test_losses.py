import math

import pytest
import torch
import torch.nn.functional as F
from conftest import AUTOCAST_CASES, DEVICES, one_hot

from coretune_mm import CoreLoss, focal_supcon_loss, soft_target_cross_entropy


def hand_focal_supcon(z, labels, t, gamma, normalizer='official'):
    """Scalar-by-scalar evaluation of the paper's equation (no tensors)."""
    m = len(z)
    dot = [[sum(a * b for a, b in zip(z[i], z[j])) for j in range(m)]
           for i in range(m)]
    losses = []
    for i in range(m):
        pos = [j for j in range(m) if j != i and labels[j] == labels[i]]
        if not pos:
            continue
        denom = sum(math.exp(dot[i][k] / t) for k in range(m) if k != i)
        total = 0.0
        for j in pos:
            p = math.exp(dot[i][j] / t) / denom
            total += (1 - p)**gamma * math.log(p)
        k_i = m if normalizer == 'official' else len(pos)
        losses.append(-total / k_i)
    return sum(losses) / len(losses)


def unit_rows(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=1)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('gamma', [0.0, 1.0, 2.0])
@pytest.mark.parametrize('normalizer', ['official', 'supcon'])
def test_matches_hand_computation(gamma, normalizer, device):
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.8, 0.6]])
    labels = [0, 0, 1, 1]
    t = 0.5
    expected = hand_focal_supcon(z.tolist(), labels, t, gamma, normalizer)
    got = focal_supcon_loss(
        z.to(device),
        one_hot(labels, 2).to(device),
        temperature=t,
        gamma=gamma,
        normalizer=normalizer)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_hand_value_two_rows():
    # Two positives only: p_01 = 1, so log p = 0 and the loss is exactly 0.
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert focal_supcon_loss(z, one_hot([3, 3], 5)).item() == 0.0
    # Three rows, one positive pair, t = 1, orthogonal/antiparallel rows:
    # p_01 = e^0 / (e^0 + e^-1), official normaliser M = 3.
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    p = 1 / (1 + math.exp(-1))
    expected = -(1 - p) * math.log(p) / 3
    # anchor 1: p_10 = e^0/(e^0 + e^0)
    expected = (expected + (-(0.5) * math.log(0.5) / 3)) / 2
    got = focal_supcon_loss(z, one_hot([0, 0, 1], 2), temperature=1.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_row_permutation_invariance():
    z = unit_rows(12, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 3, 3, 4, 2])
    y = one_hot(labels, 5)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    a = focal_supcon_loss(z, y)
    b = focal_supcon_loss(z[perm], y[perm])
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_class_count_1000_exact_row_equality():
    z = unit_rows(10, 16)
    labels = [3, 999, 500, 3, 999, 500, 21, 22, 21, 998]
    got = focal_supcon_loss(z, one_hot(labels, 1000))
    # the same grouping with compact class ids gives the same loss
    compact = {c: i for i, c in enumerate(sorted(set(labels)))}
    ref = focal_supcon_loss(z, one_hot([compact[c] for c in labels], 6))
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)
    expected = hand_focal_supcon(z.tolist(), labels, 0.07, 1.0)
    assert got.item() == pytest.approx(expected, rel=1e-4)


def test_soft_rows_equal_only_when_identical():
    # rows mixing classes 20/21 vs 21/20 (the official base-10 hash
    # overflows float32 for C > 19 and cannot tell such rows apart)
    y = torch.zeros(4, 40)
    y[0, 20], y[0, 21] = 0.25, 0.75
    y[1, 20], y[1, 21] = 0.25, 0.75
    y[2, 21], y[2, 20] = 0.25, 0.75
    y[3, 39] = 1.0
    z = unit_rows(4, 6)
    got = focal_supcon_loss(z, y, temperature=0.3)
    expected = hand_focal_supcon(z.tolist(), ['a', 'a', 'b', 'c'], 0.3, 1.0)
    assert got.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('device', DEVICES)
def test_no_positive_is_zero_connected_to_graph(device):
    z = unit_rows(5, 4).to(device).requires_grad_()
    loss = focal_supcon_loss(z, one_hot([0, 1, 2, 3, 4], 5).to(device))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))
    # a single row has no positive either
    assert focal_supcon_loss(unit_rows(1, 4), one_hot([0], 3)).item() == 0


def test_finite_for_extreme_inputs_and_gradients():
    z = torch.tensor([[1e30, 0.0], [1e30, 1e-30], [-1e30, 0.0]],
                     requires_grad=True)
    for gamma in (0.0, 0.5, 1.0):
        loss = focal_supcon_loss(
            z, one_hot([0, 0, 1], 2), gamma=gamma, temperature=0.01)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
        z.grad = None


@pytest.mark.parametrize('device,dtype', AUTOCAST_CASES)
def test_float32_under_autocast(device, dtype):
    z = unit_rows(8, 4).to(device=device, dtype=dtype)
    y = one_hot([0, 0, 1, 1, 2, 2, 3, 3], 4).to(device)
    with torch.autocast(device, dtype=dtype):
        loss = focal_supcon_loss(z, y)
    assert loss.dtype == torch.float32
    ref = focal_supcon_loss(z.float(), y)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)


def test_bad_inputs_raise_clear_errors():
    y = one_hot([0, 0, 1], 2)
    z = unit_rows(3, 4)
    with pytest.raises(ValueError, match='NaN or inf'):
        focal_supcon_loss(torch.full((3, 4), float('nan')), y)
    with pytest.raises(ValueError, match='NaN or inf'):
        focal_supcon_loss(z.index_fill(0, torch.tensor([1]), float('inf')), y)
    with pytest.raises(ValueError, match='has 2 rows but the features have 3'):
        focal_supcon_loss(z, y[:2])
    with pytest.raises(ValueError, match=r'shape \(N, C\)'):
        focal_supcon_loss(z, torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match='must sum to 1'):
        focal_supcon_loss(z, y * 2)
    with pytest.raises(ValueError, match='temperature must be > 0'):
        focal_supcon_loss(z, y, temperature=0)
    with pytest.raises(ValueError, match='normalizer must be one of'):
        focal_supcon_loss(z, y, normalizer='mean')


def test_soft_target_cross_entropy_matches_hand_value():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([[0.7, 0.3], [0.0, 1.0]])
    l0 = -(0.7 * math.log(math.exp(2) / (math.exp(2) + 1)) +
           0.3 * math.log(1 / (math.exp(2) + 1)))
    l1 = -math.log(math.e / (1 + math.e))
    got = soft_target_cross_entropy(logits, y)
    assert got.item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    with pytest.raises(ValueError, match='must both have shape'):
        soft_target_cross_entropy(logits, y[:1])


@pytest.mark.parametrize('device', DEVICES)
def test_core_loss_keys_and_eta(device):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=g).to(device)
    z = unit_rows(6, 5).to(device)
    y = one_hot([0, 0, 1, 1, 2, 2], 3).to(device)
    out = CoreLoss(eta=0.5, temperature=0.2)(logits, z, y)
    assert set(out) == {'loss_ce_mix', 'loss_con', 'con_unscaled'}
    assert out['loss_ce_mix'].item() == pytest.approx(
        soft_target_cross_entropy(logits, y).item())
    assert out['loss_con'].item() == pytest.approx(
        0.5 * focal_supcon_loss(z, y, temperature=0.2).item())
    # nothing to contrast: same keys, zero contrastive term
    out = CoreLoss()(logits[:3], z[:3], y[[0, 2, 4]])
    assert set(out) == {'loss_ce_mix', 'loss_con', 'con_unscaled'}
    assert out['loss_con'].item() == 0.0
    with pytest.raises(ValueError, match='must describe the same rows'):
        CoreLoss()(logits, z[:5], y)
    with pytest.raises(ValueError, match='nonfinite must be one of'):
        CoreLoss(nonfinite='ignore')
    with pytest.raises(ValueError, match='eta must be >= 0'):
        CoreLoss(eta=-1)
    # a temperature floor, with its reason, at build time
    with pytest.raises(ValueError, match='below 0.01.*hard max'):
        CoreLoss(temperature=1e-8)
    assert CoreLoss(temperature=0.01).temperature == 0.01


def test_core_loss_warns_once_when_the_contrast_has_no_positive_pair():
    """Batches of 2 (two classes) and of 1: no class has two samples, the
    contrast is off -- one warning after NO_POSITIVE_WARN_STEPS steps in a
    row, none while positives keep coming, none twice."""
    import warnings

    from coretune_mm import HardMixup
    from coretune_mm.core import core_tuning_step
    from coretune_mm.core.core_loss import NO_POSITIVE_WARN_STEPS
    torch.manual_seed(0)
    fc = torch.nn.Linear(4, 3)
    proj = torch.nn.Linear(4, 5)

    def run(loss, labels, steps):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter('always')
            for _ in range(steps):
                core_tuning_step(
                    torch.randn(len(labels), 4), one_hot(labels,
                                                         3), HardMixup(), fc,
                    lambda x: F.normalize(proj(x), dim=1), loss)
        return [
            str(w.message) for w in seen if 'positive pair' in str(w.message)
        ]

    for labels in ([0, 1], [2]):
        loss = CoreLoss()
        assert run(loss, labels, NO_POSITIVE_WARN_STEPS - 1) == []
        told = run(loss, labels, 5)
        assert len(told) == 1 and 'larger batch' in told[0]
        assert run(loss, labels, 20) == []  # once
    loss = CoreLoss()
    for _ in range(3):  # positives now and then: the count restarts
        assert run(loss, [0, 1], NO_POSITIVE_WARN_STEPS - 1) == []
        assert run(loss, [0, 0, 1], 1) == []


def test_positive_mask_is_row_equality():
    """The focal loss's positives (two int64 keys hashed from each row's
    float bits, no host read)
    are exactly the pairs of identical rows, here at 1000 classes and with
    two rows 1 ulp apart in one far class."""
    from coretune_mm.core.losses import positive_mask
    g = torch.Generator().manual_seed(0)
    base = torch.softmax(torch.randn(6, 1000, generator=g), dim=1)
    targets = base[torch.randint(0, 6, (50, ), generator=g)]
    # a row differing from another in one far class only, by 1 ulp
    targets[0] = targets[1]
    targets[0, 999] = torch.nextafter(targets[0, 999], torch.tensor(1.0))
    pos = positive_mask(targets)
    same = (targets.unsqueeze(0) == targets.unsqueeze(1)).all(-1)
    assert torch.equal(pos, same & ~torch.eye(50, dtype=torch.bool))
    assert not pos[0, 1]
    # a block of rows (offset 10, 20 rows) is the same block of the mask
    assert torch.equal(positive_mask(targets, 10, 20), pos[10:30])


def test_counts_mask_out_the_rows_after_the_valid_ones():
    """With agreed ``counts`` (the training step's plan) only the first
    rows take part: a placeholder row changes nothing, and 0 valid rows give
    a zero connected to the graph."""
    z = unit_rows(7, 4).requires_grad_()
    y = one_hot([0, 0, 1, 1, 2, 2, 0], 3)
    ref = focal_supcon_loss(z[:6], y[:6], gamma=2.0, normalizer='supcon')
    got = focal_supcon_loss(z, y, gamma=2.0, normalizer='supcon', counts=[6])
    assert got.item() == pytest.approx(ref.item(), abs=1e-6)
    none = focal_supcon_loss(z, y, counts=[0])
    assert none.item() == 0.0
    none.backward()
    assert z.grad is not None and z.grad.abs().sum() == 0


@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.0, 2.0])
def test_hand_written_backward_matches_numerical_gradient(gamma):
    """The dense per-anchor rows have their own backward (no (A, M)
    intermediates kept for autograd): gradcheck in float64, with the anchor
    rows a slice of the contrasted rows, as under DDP."""
    from coretune_mm.core.losses import _FocalSupConRows
    g = torch.Generator().manual_seed(3)
    z = F.normalize(
        torch.randn(9, 4, generator=g, dtype=torch.float64),
        dim=1).requires_grad_()
    pos = torch.rand(5, 9, generator=g) < 0.4
    pos.diagonal(2).fill_(False)
    assert torch.autograd.gradcheck(
        lambda z: _FocalSupConRows.apply(z[2:7], z, pos, 2, 0.3, gamma), (z, ))


def test_a_single_row_gives_a_zero_loss_and_zero_gradient():
    """One row in the whole contrast (a batch of one without mixing): no
    positive, a graph-connected 0, and a finite (zero) gradient."""
    z = unit_rows(1, 4).requires_grad_()
    loss = focal_supcon_loss(z, one_hot([2], 3))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() == 0
    head_loss = CoreLoss()(torch.randn(1, 3), z, one_hot([2], 3))
    assert all(torch.isfinite(v) for v in head_loss.values())


@pytest.mark.parametrize('num_classes', [10, 100])
def test_distinct_mixes_are_never_positives(num_classes):
    """Every pair of classes mixed at the round lambdas CutMix and HardMixup
    produce (0.5, 0.625, 0.75, 0.8), with one-hot rows and repeated rows:
    the positives are exactly the pairs of identical rows (the earlier
    frac(c w) keys took classes (1, 9) and (4, 6) at 0.5 for one target)."""
    from coretune_mm.core.losses import positive_mask
    eye = torch.eye(num_classes)
    a, b = torch.triu_indices(num_classes, num_classes, 1)
    rows = [eye] + [
        lam * eye[a] + (1 - lam) * eye[b] for lam in (0.5, 0.625, 0.75, 0.8)
    ]
    targets = torch.cat(rows)
    targets = torch.cat([targets, targets[::997]])  # some identical rows
    _, ids = torch.unique(targets, dim=0, return_inverse=True)
    m = targets.shape[0]
    for start in range(0, m, 2048):
        num = min(2048, m - start)
        pos = positive_mask(targets, start, num)
        same = ids[start:start + num, None] == ids[None, :]
        same[torch.arange(num), torch.arange(start, start + num)] = False
        assert torch.equal(pos, same)
    assert int((ids.bincount() > 1).sum()) == len(range(0, m - 1, 997))


def official_focal_supcon(z, targets, t=0.07):
    """The official code's contrastive loss, restated (one SupCon-style
    function): rows are positives iff their soft targets are identical;
    ``l_i = -(1/M) sum_j mask_ij (1 - p_ij) log p_ij`` over all M rows,
    averaged over the anchors that have a positive."""
    m = z.shape[0]
    _, ids = torch.unique(targets, dim=0, return_inverse=True)
    not_self = 1 - torch.eye(m, dtype=z.dtype)
    mask = (ids[:, None] == ids[None, :]).to(z.dtype) * not_self
    logits = z @ z.t() / t
    logits = logits - logits.max(dim=1, keepdim=True).values
    log_prob = logits - torch.log(
        (logits.exp() * not_self).sum(dim=1, keepdim=True))
    per_row = -((1 - log_prob.exp()) * mask * log_prob).mean(dim=1)
    return per_row.sum() / (mask.sum(dim=1) > 0).sum()


@pytest.mark.parametrize('soft_batch', [False, True])
def test_public_loss_defaults_are_the_official_loss(soft_batch):
    """focal_supcon_loss(z, targets) and CoreLoss()(logits, z, targets)
    without num_clean mean the paper's loss: positives are identical
    targets -- also for HardMixup's mixed rows, which the 'argmax' rule
    only re-keys for rows declared clean."""
    from coretune_mm import HardMixup
    g = torch.Generator().manual_seed(3)
    h = torch.randn(24, 16, generator=g)
    y = one_hot(torch.randint(0, 4, (24, ), generator=g), 4)
    if soft_batch:  # mmpretrain-style Mixup targets on the clean rows
        y = 0.7 * y + 0.3 * y.roll(1, dims=0)
    rows, targets = HardMixup(seed=1)(h, y)
    z = F.normalize(torch.randn(rows.shape[0], 8, generator=g), dim=1)
    logits = torch.randn(rows.shape[0], 4, generator=g)
    ref = official_focal_supcon(z.double(), targets.double()).float()
    assert torch.allclose(focal_supcon_loss(z, targets), ref, atol=1e-6)
    losses = CoreLoss()(logits, z, targets)
    assert torch.allclose(losses['loss_con'], 0.1 * ref, atol=1e-7)
    # the heads declare the clean rows: those are keyed by their class
    keyed = focal_supcon_loss(z, targets, num_clean=24)
    assert soft_batch != torch.allclose(keyed, ref, atol=1e-6)
