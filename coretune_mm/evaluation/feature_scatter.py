from typing import List, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS

from ..core import feature_scatter


@METRICS.register_module()
class FeatureScatter(BaseMetric):
    """Intra-class scatter, inter-class distance and their ratio of the
    backbone's pooled features (:func:`coretune_mm.core.feature_scatter`).

    Reads ``pooled_feat`` from the predicted data samples, which
    ``PooledFeatureHook`` adds during validation/testing::

        custom_hooks = [dict(type='PooledFeatureHook')]
        val_evaluator = [dict(type='Accuracy', topk=(1, )),
                         dict(type='FeatureScatter')]

    Reports ``scatter/intra``, ``scatter/inter`` and ``scatter/ratio``
    (lower ratio: tighter, better separated classes).
    """
    default_prefix = 'scatter'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'pooled_feat' not in sample:
                raise KeyError(
                    'FeatureScatter needs pooled_feat in the predictions: add '
                    "custom_hooks=[dict(type='PooledFeatureHook')]")
            self.results.append((sample['pooled_feat'].float().cpu(),
                                 int(sample['gt_label'].reshape(-1)[0])))

    def compute_metrics(self, results: List) -> dict:
        feats = torch.stack([f for f, _ in results])
        labels = torch.tensor([lab for _, lab in results])
        return feature_scatter(feats, labels)
