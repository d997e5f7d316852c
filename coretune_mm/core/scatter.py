"""Feature scatter: how tight classes are relative to how far apart."""
import warnings
from typing import Dict

import torch
import torch.nn.functional as F


def feature_scatter(features: torch.Tensor,
                    labels: torch.Tensor) -> Dict[str, float]:
    """Intra-class scatter, inter-class distance and their ratio.

    On L2-normalised features ``f_i`` (scale-free, so CE- and Core-tuned
    models compare fairly), with class means ``m_c``:

    * ``intra`` = mean_i ||f_i - m_{y_i}||^2 over the samples of classes
      with at least two samples (a lone sample is its own mean: it says
      nothing about how tight its class is);
    * ``inter`` = mean over class pairs c != c' of ||m_c - m_c'||^2;
    * ``ratio`` = intra / inter (lower: tighter, better separated classes).

    A figure the data cannot define is NaN, with a warning naming why:
    ``intra`` without a class of two samples, ``inter`` with fewer than two
    classes (and ``ratio`` with either) -- never a 0 that reads as perfect
    clustering.
    """
    if features.dim() != 2 or labels.dim() != 1 or \
            features.shape[0] != labels.shape[0]:
        raise ValueError(f'features {tuple(features.shape)} and labels '
                         f'{tuple(labels.shape)} must be (N, D) and (N,)')
    classes, inverse = torch.unique(labels, return_inverse=True)
    k = classes.numel()
    f = F.normalize(features.double(), dim=1)
    counts = torch.bincount(inverse, minlength=k).double()
    means = torch.zeros(k, f.shape[1], dtype=f.dtype)
    means = means.index_add(0, inverse, f) / counts.clamp_min(1).unsqueeze(1)
    nan = float('nan')
    in_pairs = counts[inverse] >= 2
    if in_pairs.any():
        intra = float(((f - means[inverse])**2).sum(dim=1)[in_pairs].mean())
    else:
        intra = nan
        warnings.warn(
            'feature scatter: no class has two samples, so the intra-class '
            'scatter (and the ratio) is undefined: NaN')
    if k >= 2:
        d = torch.cdist(means, means)**2
        inter = float(d.sum() / (k * (k - 1)))
    else:
        inter = nan
        warnings.warn(
            f'feature scatter: {k} class(es) in the data, so the inter-class '
            'distance (and the ratio) is undefined: NaN')
    return dict(intra=intra, inter=inter, ratio=intra / inter)
