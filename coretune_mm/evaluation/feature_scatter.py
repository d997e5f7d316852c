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
        """One device read per batch: the batch's features and labels are
        packed into one tensor and copied to the host together."""
        if not data_samples:
            return
        for sample in data_samples:
            if 'pooled_feat' not in sample:
                raise KeyError(
                    'FeatureScatter needs pooled_feat in the predictions: add '
                    "custom_hooks=[dict(type='PooledFeatureHook')]")
        feats = torch.stack([s['pooled_feat'] for s in data_samples]).float()
        labels = torch.stack([
            s['gt_label'].reshape(-1)[0].to(feats.device) for s in data_samples
        ]).to(torch.float64)
        # float64 holds every integer label exactly; one copy to the host
        packed = torch.cat([labels.unsqueeze(1), feats.double()], 1).cpu()
        for label, feat in zip(packed[:, 0].long().tolist(),
                               packed[:, 1:].float()):
            self.results.append((feat, label))

    def compute_metrics(self, results: List) -> dict:
        feats = torch.stack([f for f, _ in results])
        labels = torch.tensor([lab for _, lab in results])
        return feature_scatter(feats, labels)
