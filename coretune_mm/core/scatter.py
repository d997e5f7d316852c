"""Feature scatter: how tight classes are relative to how far apart."""
from typing import Dict

import torch
import torch.nn.functional as F


def feature_scatter(features: torch.Tensor,
                    labels: torch.Tensor) -> Dict[str, float]:
    """Intra-class scatter, inter-class distance and their ratio.

    On L2-normalised features ``f_i`` (scale-free, so CE- and Core-tuned
    models compare fairly), with class means ``m_c``:

    * ``intra`` = mean_i ||f_i - m_{y_i}||^2
    * ``inter`` = mean over class pairs c != c' of ||m_c - m_c'||^2
    * ``ratio`` = intra / inter (lower: tighter, better separated classes)
    """
    if features.dim() != 2 or labels.dim() != 1 or \
            features.shape[0] != labels.shape[0]:
        raise ValueError(f'features {tuple(features.shape)} and labels '
                         f'{tuple(labels.shape)} must be (N, D) and (N,)')
    classes, inverse = torch.unique(labels, return_inverse=True)
    if classes.numel() < 2:
        raise ValueError('feature scatter needs at least two classes')
    f = F.normalize(features.double(), dim=1)
    counts = torch.bincount(inverse).double()
    means = torch.zeros(classes.numel(), f.shape[1], dtype=f.dtype)
    means = means.index_add(0, inverse, f) / counts.unsqueeze(1)
    intra = ((f - means[inverse])**2).sum(dim=1).mean()
    d = torch.cdist(means, means)**2
    k = classes.numel()
    inter = d.sum() / (k * (k - 1))
    return dict(
        intra=float(intra), inter=float(inter), ratio=float(intra / inter))
