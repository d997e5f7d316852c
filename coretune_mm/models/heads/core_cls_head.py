import warnings
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.heads import ClsHead
from mmpretrain.models.losses import CrossEntropyLoss
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ...core import (CoreLoss, HardMixup, ProjectionHead, core_tuning_step,
                     labels_to_targets)
from ...core.checks import (BAD_LABELS, label_problems, label_range,
                            labels_to_targets_unchecked)
from ...core.decision import DEFAULT_MESSAGES
from ..registry import CORE_LOSS_HINT, MIXUP_HINT, build_core_part


@MODELS.register_module()
class CoreContrastiveClsHead(ClsHead):
    """Core-tuning classification head for mmpretrain.

    Holds a linear classifier (``fc``), a projection head (``projector``:
    Linear-ReLU-Linear, L2-normalised), a ``HardMixup`` (``mixup``) and a
    ``CoreLoss`` (``core_loss``, also reachable as mmpretrain's
    ``loss_module``), all built from config; the training step is
    :func:`coretune_mm.core.core_tuning_step`, as in the segmentation head.

    * Training (``loss``): ``h`` = the (N, D) feature from the neck; the
      ``3N`` rows ``[h; z_neg; z_pos]`` go through ``fc`` (mixed-label CE)
      and the projector (focal contrastive loss). One forward pass: the
      training accuracy (``cal_acc=True``) is read off the clean rows.
    * Inference (``predict``): ``fc`` on the clean features, as
      ``LinearClsHead`` does; the projector is unused and may be dropped
      from a deployed checkpoint.

    Args:
        num_classes (int): number of classes.
        in_channels (int): dimension ``D`` of the incoming feature vector.
        proj_channels (int): projector output dimension. Defaults to 256.
        proj_hidden_channels (int, optional): projector hidden dimension.
            Defaults to ``in_channels``.
        bias (bool): whether ``fc`` has a bias. Defaults to True (as
            mmpretrain's ``LinearClsHead``); the official Core-tuning
            script's classifier has none (``bias=False``).
        mixup (dict): ``HardMixup`` config.
        core_loss (dict): ``CoreLoss`` config (the same key as in
            ``CoreContrastiveSegHead``).
        loss (dict, optional): deprecated name of ``core_loss`` when it is a
            ``CoreLoss`` config (accepted with a ``DeprecationWarning``).
            A stock head's plain ``CrossEntropyLoss`` -- what a config that
            only changes ``type`` of mmpretrain's ``LinearClsHead`` to this
            head inherits -- is replaced by ``core_loss`` with a warning
            (Core-tuning's cross-entropy is the mixed-label one inside
            ``CoreLoss``); any other loss (label smoothing, class weights,
            a sigmoid loss) is refused with the fix in the message.
        init_cfg (dict, optional): the default initialises the classifier
            ``fc`` only (N(0, 0.01), as mmpretrain's ``LinearClsHead``); the
            projector keeps PyTorch's default ``nn.Linear`` initialisation,
            as in the official Core-tuning code. Until 2026-12-04 the
            default was ``dict(type='Normal', layer='Linear', std=0.01)``,
            which also draws the projector's two layers from N(0, 0.01);
            pass that to reproduce the results measured before (the
            ``Core, projector N(0, 0.01)`` variant of the benchmarks).
        topk, cal_acc: as in mmpretrain's ``ClsHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 proj_channels: int = 256,
                 proj_hidden_channels: Optional[int] = None,
                 bias: bool = True,
                 mixup: dict = dict(type='HardMixup'),
                 core_loss: Optional[dict] = None,
                 topk=(1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', std=0.01, override=dict(name='fc')),
                 loss: Optional[dict] = None,
                 **kwargs):
        core_loss = _core_loss_cfg(core_loss, loss)
        if core_loss is None:
            core_loss = dict(type='CoreLoss')
        super().__init__(
            loss=core_loss,
            topk=topk,
            cal_acc=cal_acc,
            init_cfg=init_cfg,
            **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be positive')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.fc = nn.Linear(in_channels, num_classes, bias=bias)
        self.projector = ProjectionHead(in_channels, proj_hidden_channels,
                                        proj_channels)
        self.mixup = build_core_part(mixup, MODELS, HardMixup, 'mixup',
                                     type(self).__name__, MIXUP_HINT)
        build_core_part(self.loss_module, MODELS, CoreLoss, 'core_loss',
                        type(self).__name__, CORE_LOSS_HINT)
        # the errors of the step's collective input check (plan_step)
        self._step_messages = {
            **DEFAULT_MESSAGES, BAD_LABELS:
            f'label values must lie in [0, {num_classes - 1}] for '
            f'num_classes={num_classes}'
        }

    @property
    def core_loss(self) -> nn.Module:
        """The ``CoreLoss`` (mmpretrain's ``ClsHead`` keeps it as
        ``loss_module``)."""
        return self.loss_module

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        h = feats[-1]
        if h.dim() != 2 or h.shape[1] != self.in_channels:
            raise ValueError(
                'CoreContrastiveClsHead needs an (N, in_channels='
                f'{self.in_channels}) feature vector from the backbone/neck, '
                f'got shape {tuple(h.shape)}; add a pooling neck (e.g. '
                "GlobalAveragePooling) or use a backbone with out_type='"
                "cls_token'")
        return h

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.pre_logits(feats))

    def get_targets(self,
                    data_samples: List[DataSample],
                    device: torch.device,
                    return_problems: bool = False):
        """(N, C) soft targets: ``gt_score`` (set by mmpretrain's Mixup /
        CutMix batch augments) when present, else one-hot ``gt_label``.

        ``return_problems=True``: also the labels' problem bits and their
        range (``None, None`` for ``gt_score``), which the training step
        checks with its one device read; without it an out-of-range label
        raises here."""
        if 'gt_score' in data_samples[0]:
            targets = torch.stack([s.gt_score for s in data_samples]).float()
            if targets.shape[1] != self.num_classes:
                raise ValueError(
                    f'gt_score has {targets.shape[1]} classes but the head '
                    f'has num_classes={self.num_classes}')
            return (targets.to(device), None, None) if return_problems \
                else targets.to(device)
        labels = torch.cat([s.gt_label for s in data_samples]).to(device)
        if labels.numel() != len(data_samples):
            raise ValueError(
                'CoreContrastiveClsHead expects one gt_label per sample '
                '(single-label classification)')
        if not return_problems:
            return labels_to_targets(labels, self.num_classes)
        return (labels_to_targets_unchecked(labels, self.num_classes),
                label_problems(labels, self.num_classes), label_range(labels))

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        h = self.pre_logits(feats)
        targets, problems, labels = self.get_targets(
            data_samples, h.device, return_problems=True)
        losses, logits = core_tuning_step(
            h,
            targets,
            self.mixup,
            self.fc,
            self.projector,
            self.core_loss,
            problems=problems,
            messages=self._step_messages,
            labels=labels)
        if self.cal_acc:
            clean = logits[:h.shape[0]].detach()
            # thrs=(None,): no score threshold (mmpretrain's default of 0
            # would count every sample whose top *logit* is negative as
            # wrong); one threshold -> acc[k] is a one-element list
            acc = Accuracy.calculate(
                clean, targets.argmax(dim=1), topk=self.topk, thrs=(None, ))
            losses.update({
                f'accuracy_top-{k}': a[0]
                for k, a in zip(self.topk, acc)
            })
        return losses


def _core_loss_cfg(core_loss, loss):
    """The ``CoreLoss`` config from ``core_loss`` and the ``loss`` argument
    (a deprecated alias, or the loss a head swap inherits)."""
    if loss is None:
        return core_loss
    loss_cls = loss.get('type') if isinstance(loss, dict) else type(loss)
    if isinstance(loss_cls, str):
        loss_cls = MODELS.get(loss_cls)
    if loss_cls is CoreLoss:
        if core_loss is not None:
            raise ValueError(
                'CoreContrastiveClsHead got both core_loss and its '
                'deprecated name loss; keep core_loss only')
        warnings.warn(
            'CoreContrastiveClsHead(loss=...) is deprecated: name the '
            'CoreLoss config core_loss=..., as in CoreContrastiveSegHead',
            DeprecationWarning,
            stacklevel=3)
        return loss
    plain_ce = (
        isinstance(loss, dict) and loss_cls is CrossEntropyLoss
        and set(loss) <= {
            'type', 'loss_weight', 'use_soft', 'use_sigmoid', 'reduction',
            'class_weight', 'pos_weight'
        } and loss.get('loss_weight', 1.0) == 1.0
        and not loss.get('use_sigmoid', False)
        and loss.get('reduction', 'mean') == 'mean'
        and loss.get('class_weight') is None
        and loss.get('pos_weight') is None)
    if plain_ce:
        warnings.warn(
            f'CoreContrastiveClsHead: ignoring loss={dict(loss)!r} (inherited '
            'from the base head?): Core-tuning trains with core_loss '
            '(CoreLoss: mixed-label cross-entropy + eta * focal contrastive '
            "loss). Write loss=None or head=dict(_delete_=True, ...) to "
            'silence this.',
            UserWarning,
            stacklevel=3)
        return core_loss
    raise ValueError(
        f'CoreContrastiveClsHead cannot use loss={loss!r}: Core-tuning trains '
        'with core_loss=dict(type="CoreLoss", ...) (mixed-label cross-entropy '
        '+ eta * focal contrastive loss), which has no label smoothing, class '
        'weights or sigmoid. If this loss was inherited from the base '
        'config, replace the head with head=dict(_delete_=True, '
        "type='CoreContrastiveClsHead', ...) or set loss=None.")
