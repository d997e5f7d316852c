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
    with pytest.raises(ValueError, match='at least two classes'):
        feature_scatter(torch.randn(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match='must be'):
        feature_scatter(torch.randn(3, 2), torch.zeros(2, dtype=torch.long))
