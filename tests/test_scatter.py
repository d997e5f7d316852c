import math

import pytest
import torch

from coretune_mm.core import feature_scatter


def test_feature_scatter_hand_values():
    # two classes on the unit circle, two samples each, symmetric
    a = math.radians(10)
    f = torch.tensor([[math.cos(a), math.sin(a)], [math.cos(a), -math.sin(a)],
                      [-math.cos(a), math.sin(a)],
                      [-math.cos(a), -math.sin(a)]]) * 3.0  # scale-free
    out = feature_scatter(f, torch.tensor([0, 0, 1, 1]))
    intra = math.sin(a)**2  # distance to the class mean (cos a, 0)
    inter = (2 * math.cos(a))**2
    assert out['intra'] == pytest.approx(intra)
    assert out['inter'] == pytest.approx(inter)
    assert out['ratio'] == pytest.approx(intra / inter)


def test_feature_scatter_bad_input():
    with pytest.raises(ValueError, match='must be'):
        feature_scatter(torch.randn(3, 2), torch.zeros(2, dtype=torch.long))


def test_feature_scatter_says_when_it_is_undefined():
    """One class: no inter-class distance; one sample per class: no
    intra-class scatter -- NaN with a warning, never a 0 that reads as
    perfect clustering. A lone sample does not count in the intra term."""
    with pytest.warns(UserWarning, match='inter-class distance'):
        out = feature_scatter(
            torch.randn(3, 2), torch.zeros(3, dtype=torch.long))
    assert math.isnan(out['inter']) and math.isnan(out['ratio'])
    assert out['intra'] > 0
    with pytest.warns(UserWarning, match='no class has two samples'):
        out = feature_scatter(torch.randn(4, 2), torch.arange(4))
    assert math.isnan(out['intra']) and math.isnan(out['ratio'])
    assert out['inter'] > 0
    a = math.radians(10)
    f = torch.tensor([[math.cos(a), math.sin(a)], [math.cos(a), -math.sin(a)],
                      [-1.0, 0.0]])
    out = feature_scatter(f, torch.tensor([0, 0, 1]))
    assert out['intra'] == pytest.approx(math.sin(a)**2)  # class 0 only


def test_feature_scatter_metric_reads_each_batch_back_once(monkeypatch):
    """FeatureScatter.process copies a batch's features and labels to the
    host in one transfer (not an int() and a .cpu() per sample); a test set
    of one class ends with NaN and a warning, not a crash."""
    from mmpretrain.structures import DataSample

    from coretune_mm.evaluation import FeatureScatter
    metric = FeatureScatter()
    g = torch.Generator().manual_seed(0)
    batch = []
    for i in range(6):
        s = DataSample().set_gt_label(i % 2).to_dict()
        s['pooled_feat'] = torch.randn(4, generator=g)
        batch.append(s)
    reads = []
    original = torch.Tensor.cpu
    monkeypatch.setattr(
        torch.Tensor, 'cpu',
        lambda self, *a, **k: reads.append(1) or original(self, *a, **k))
    monkeypatch.setattr(
        torch.Tensor,
        '__int__',
        lambda self: pytest.fail('int() of a tensor'),
        raising=False)
    metric.process(None, batch)
    monkeypatch.undo()
    assert len(reads) == 1 and len(metric.results) == 6
    out = metric.compute_metrics(metric.results)
    ref = feature_scatter(
        torch.stack([s['pooled_feat'] for s in batch]),
        torch.tensor([i % 2 for i in range(6)]))
    assert out == pytest.approx(ref)
    one = [dict(s, gt_label=torch.tensor([3])) for s in batch]
    metric.results.clear()
    metric.process(None, one)
    with pytest.warns(UserWarning, match='1 class'):
        out = metric.compute_metrics(metric.results)
    assert math.isnan(out['ratio'])
