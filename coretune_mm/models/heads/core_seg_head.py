import inspect
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmseg.models.decode_heads.cascade_decode_head import BaseCascadeDecodeHead
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS

from ...core import CoreLoss, HardMixup, ProjectionHead, core_tuning_step
from ...core.checks import (BAD_LABELS, feature_problems, label_problems,
                            label_range, labels_to_targets_unchecked)
from ...core.decision import DEFAULT_MESSAGES, plan_step
from ...core.generators import RankGenerator
from ...core.sampling import sample_pixel_order
from ..registry import CORE_LOSS_HINT, MIXUP_HINT, build_core_part

_SUBCLASSES: Dict[type, type] = {}


def _core_subclass(base: type) -> type:
    """``Core<Base>``: Core-tuning on top of an mmseg decode head class.

    Made once per wrapped class and published in this module, so instances
    pickle and deep-copy like ordinary ones.
    """
    if base not in _SUBCLASSES:
        name = f'Core{base.__name__}'
        sub = type(name, (CoreContrastiveSegHead, base), {
            '__module__': __name__,
            '__qualname__': name
        })
        globals()[name] = sub
        _SUBCLASSES[base] = sub
    return _SUBCLASSES[base]


# Heads that fit the decode-head interface but not Core-tuning, and why.
UNSUPPORTED_HEADS = {
    'SegmenterMaskTransformerHead':
    'it classifies pixels by their similarity to learned class embeddings, '
    'not with conv_seg, so there is no linear classifier for the mixed '
    'pixel features',
    'IterativeDecodeHead':
    'K-Net classifies with kernels refined over several stages (its forward '
    'returns one map per stage), not with its own conv_seg',
    'VPDDepthHead':
    'it is a depth-estimation (regression) head; Core-tuning needs a softmax '
    'classifier with one output per class',
}


def unsupported_reason(base) -> Optional[str]:
    """Why ``CoreContrastiveSegHead`` cannot serve the decode head class
    ``base`` (``None``: it can), decided when the model is built."""
    if not (isinstance(base, type) and issubclass(base, BaseDecodeHead)):
        return ('it is not a subclass of mmseg BaseDecodeHead (the wrapper '
                'needs the forward -> cls_seg -> loss_by_feat interface)')
    if issubclass(base, CoreContrastiveSegHead):
        return 'it is already a Core-tuning head'
    if issubclass(base, BaseCascadeDecodeHead):
        return ('it is a cascade head: its forward needs the previous decode '
                "head's output (prev_output), which a single decode head's "
                'loss does not receive; wrap the first head of the cascade '
                'instead')
    if base.loss is not BaseDecodeHead.loss:
        return ('it overrides loss() with its own training step, which the '
                'Core-tuning wrapper would bypass')
    params = inspect.signature(base.forward).parameters
    extra = [
        n for n in list(params)[2:]
        if params[n].default is inspect.Parameter.empty
        and params[n].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    if extra:
        return (f'its forward needs {extra} besides the features, which the '
                'decode-head loss does not pass')
    for cls in base.__mro__:
        if cls.__name__ in UNSUPPORTED_HEADS:
            return UNSUPPORTED_HEADS[cls.__name__]
    return None


@MODELS.register_module()
class CoreContrastiveSegHead(BaseDecodeHead):
    """Core-tuning on the dense features of any mmseg decode head.

    ``dict(type='CoreContrastiveSegHead', wrapped_type='FCNHead', ...)``
    builds an instance of ``CoreFCNHead``, a subclass of both this class and
    the wrapped head, with the wrapped head's own arguments (so a config
    swap is: change ``type``, add ``wrapped_type``). Parameter names, the
    forward pass, ``predict`` and the dense cross-entropy (``loss_ce``) are
    the wrapped head's; this class adds a projector (``projector.*``, unused
    at inference) and, in ``loss``, the Core-tuning terms on sampled pixel
    features:

    1. labels are resized to the feature map (nearest); ``ignore_index``
       pixels are never sampled; at most ``max_pixels`` pixels per batch,
       class-balanced, deterministic for a fixed seed;
    2. ``HardMixup`` on the sampled features (the input of ``cls_seg``),
       the projector, and ``CoreLoss`` with ``conv_seg``'s weights as the
       classifier of the mixed features.

    Loss keys are always ``loss_ce``, ``loss_ce_mix``, ``loss_con`` (plus
    ``acc_seg``); a batch with no valid pixel gives zeros connected to the
    graph (every parameter still receives a gradient, so DDP ranks stay in
    step) and adds nothing to the other ranks' contrast.

    The feature hook: :meth:`forward_with_features` returns the logits and
    the feature map passed to ``cls_seg``. The default captures the single
    ``cls_seg`` call made by ``forward``, which is how every mmseg head
    built on ``BaseDecodeHead`` classifies; a head that classifies otherwise
    overrides this one method.

    Args:
        wrapped_type (str): registered mmseg decode head type, e.g.
            ``'DepthwiseSeparableASPPHead'``, ``'FCNHead'``, ``'ASPPHead'``,
            ``'UPerHead'``.
        proj_channels (int): projector output dim. Defaults to 256.
        proj_hidden_channels (int, optional): projector hidden dim; defaults
            to the head's ``channels``.
        max_pixels (int): pixels sampled per batch (per rank). Defaults to
            1024, i.e. 3072 contrasted rows.
        mixup (dict): ``HardMixup`` config.
        core_loss (dict): ``CoreLoss`` config.
        sample_seed (int, optional): seed of a private stream for the
            pixel sampling; by default each step's sampling is seeded from
            the global RNG (seeded by the run's ``randomness.seed``) and the
            rank (:class:`~coretune_mm.core.generators.RankGenerator`).
        **kwargs: the wrapped head's arguments.
    """

    def __new__(cls, *args, wrapped_type: Optional[str] = None, **kwargs):
        if cls is not CoreContrastiveSegHead:
            return super().__new__(cls)
        if wrapped_type is None:
            raise TypeError('CoreContrastiveSegHead needs wrapped_type, the '
                            "mmseg decode head to wrap (e.g. 'FCNHead')")
        base = MODELS.get(wrapped_type) if isinstance(wrapped_type,
                                                      str) else wrapped_type
        if base is None:
            raise KeyError(f'wrapped_type={wrapped_type!r} is not a '
                           'registered mmseg decode head')
        reason = unsupported_reason(base)
        if reason is not None:
            name = getattr(base, '__name__', wrapped_type)
            raise TypeError(
                f'CoreContrastiveSegHead cannot wrap {name}: {reason}')
        return super().__new__(_core_subclass(base))

    def __init__(self,
                 *args,
                 wrapped_type: Optional[str] = None,
                 proj_channels: int = 256,
                 proj_hidden_channels: Optional[int] = None,
                 max_pixels: int = 1024,
                 mixup: dict = dict(type='HardMixup'),
                 core_loss: dict = dict(type='CoreLoss'),
                 sample_seed: Optional[int] = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if self.out_channels != self.num_classes:
            raise ValueError(
                'CoreContrastiveSegHead needs one output channel per class '
                f'(softmax segmentation); got out_channels={self.out_channels}'
                f' for num_classes={self.num_classes}')
        if max_pixels <= 0:
            raise ValueError(f'max_pixels must be positive, got {max_pixels}')
        self.wrapped_type = getattr(wrapped_type, '__name__', wrapped_type)
        self.max_pixels = int(max_pixels)
        self.sample_seed = sample_seed
        self._sample_generator = RankGenerator(sample_seed)
        self.projector = ProjectionHead(self.channels, proj_hidden_channels,
                                        proj_channels)
        head = type(self).__name__
        self.mixup = build_core_part(mixup, MODELS, HardMixup, 'mixup', head,
                                     MIXUP_HINT)
        self.core_loss = build_core_part(core_loss, MODELS, CoreLoss,
                                         'core_loss', head, CORE_LOSS_HINT)
        # the errors of the step's collective input check (plan_step)
        self._step_messages = {
            **DEFAULT_MESSAGES, BAD_LABELS:
            'segmentation labels must lie in '
            f'[0, {self.num_classes - 1}] or be '
            f'ignore_index={self.ignore_index}'
        }

    def forward_with_features(
            self,
            inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """The hook: ``(seg_logits, feature map fed to cls_seg)``."""
        captured: List[torch.Tensor] = []
        cls_seg = self.cls_seg

        def capture(feat):
            captured.append(feat)
            return cls_seg(feat)

        self.cls_seg = capture  # shadows the method for this call only
        try:
            seg_logits = self.forward(inputs)
        finally:
            del self.cls_seg
        if len(captured) != 1:
            raise RuntimeError(
                f'{type(self).__name__}.forward called cls_seg '
                f'{len(captured)} times; override forward_with_features to '
                'return (seg_logits, features before conv_seg)')
        return seg_logits, captured[0]

    def loss(self, inputs: Tuple[torch.Tensor], batch_data_samples,
             train_cfg) -> dict:
        seg_logits, feats = self.forward_with_features(inputs)
        # Core terms first: they validate the labels with a clear message
        core_losses = self.core_loss_by_feat(feats, batch_data_samples)
        losses = self.loss_by_feat(seg_logits, batch_data_samples)
        losses.update(core_losses)
        return losses

    def _sample_order(
        self, feats: torch.Tensor, batch_data_samples
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Labels at feature resolution (flat), the sampling order, the
        number of sampled pixels (0-d tensor) and the label problem bits;
        nothing is read back from the device."""
        # the semantic labels (B, 1, H, W) -- BaseDecodeHead's stacking, as
        # some heads (PIDHead) override it to also return boundary maps
        seg_label = BaseDecodeHead._stack_batch_gt(self, batch_data_samples)
        seg_label = F.interpolate(
            seg_label.float(), size=feats.shape[2:],
            mode='nearest').long().flatten()
        order, num = sample_pixel_order(
            seg_label,
            self.num_classes,
            self.max_pixels,
            ignore_index=self.ignore_index,
            generator=self._sample_generator.get(seg_label.device)[1])
        return seg_label, order, num, label_problems(seg_label,
                                                     self.num_classes,
                                                     self.ignore_index)

    @staticmethod
    def _gather_pixels(feats: torch.Tensor,
                       index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` of the flat (B*H*W, C) view of a (B, C, H, W) map."""
        hw = feats.shape[2] * feats.shape[3]
        return feats.flatten(2)[index // hw, :, index % hw]

    def core_loss_by_feat(self, feats: torch.Tensor,
                          batch_data_samples) -> dict:
        """The Core-tuning terms on sampled pixels, with one device read.

        The candidate pixels (the first ``min(P, max_pixels)`` of the
        sampling order) are gathered before the read, their problems and
        the sampled count are read with :func:`plan_step` (collectively
        under DDP), and the first ``count`` candidates are used. A rank
        with no sampled pixel (all ignored) runs the same graph on one
        placeholder pixel that is kept out of every rank's contrast
        (``counts[rank] = 0``) and scaled to zero, so every rank returns
        the same keys and reaches every collective. A rank whose pixels are
        of one class contributes them (under DDP the other ranks' pixels
        are their negatives).
        """
        seg_label, order, num, problems = self._sample_order(
            feats, batch_data_samples)
        candidates = order[:min(order.numel(), self.max_pixels)]
        pixels = self._gather_pixels(feats, candidates)
        problems = problems | feature_problems(pixels)
        plan = plan_step(
            num,
            problems,
            getattr(self.core_loss, 'nonfinite', 'auto'),
            self._step_messages,
            labels=label_range(seg_label, self.ignore_index))
        count = plan.counts[plan.rank]
        labels = seg_label[candidates[:max(count, 1)]]
        if count == 0:
            labels = torch.zeros_like(labels)  # the placeholder's label
        targets = labels_to_targets_unchecked(labels, self.num_classes)
        losses, _ = core_tuning_step(
            pixels[:max(count, 1)],
            targets,
            self.mixup,
            self._classify_pixels,
            self.projector,
            self.core_loss,
            plan=plan)
        if count == 0:
            losses = {k: v * 0.0 for k, v in losses.items()}
        return losses

    def _classify_pixels(self, rows: torch.Tensor) -> torch.Tensor:
        """``conv_seg`` (a 1x1 conv) applied to (S, C) pixel rows."""
        return F.linear(rows, self.conv_seg.weight.flatten(1),
                        self.conv_seg.bias)
