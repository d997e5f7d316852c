"""Every decode head registered in mmseg under CoreContrastiveSegHead: it
either builds and runs one forward + loss (+ backward), or is refused when
the model is built, with a message that names the head and the reason."""
import pytest
import torch
from conftest import (BN, NUM_CLASSES, feature_pyramid, random_labels,
                      seg_samples)
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS

import coretune_mm  # noqa: F401
from coretune_mm.models.heads.core_seg_head import unsupported_reason

init_default_scope('mmseg')
DECODE_HEADS = sorted(
    name for name, cls in MODELS.module_dict.items()
    if cls.__module__.startswith('mmseg.models.decode_heads'))

# heads this CPU environment cannot run at all (mmcv-lite has no compiled
# ops); the plain head is tried first and must fail for this reason
NEEDS_COMPILED_MMCV = {'PSAHead'}

# small per-head arguments on top of in_channels=64, in_index=3, channels=16
ARGS = {
    'ANNHead':
    dict(
        dropout_ratio=0.1,
        in_channels=[32, 64],
        in_index=[2, 3],
        project_channels=8,
        query_scales=(1, ),
        key_pool_scales=(1, 3)),
    'APCHead':
    dict(pool_scales=(1, 2)),
    'ASPPHead':
    dict(dilations=(1, 2)),
    'DAHead':
    dict(pam_channels=8),
    'DMHead':
    dict(filter_sizes=(1, 3)),
    'DNLHead':
    dict(),
    'DepthwiseSeparableASPPHead':
    dict(
        dilations=(1, 2),
        c1_in_channels=8,
        c1_channels=4,
    ),
    'EMAHead':
    dict(ema_channels=8, num_bases=4, num_stages=2),
    'EncHead':
    dict(in_channels=[16, 32, 64], in_index=[1, 2, 3], num_codes=4),
    'FPNHead':
    dict(
        in_channels=[8, 16, 32, 64],
        in_index=[0, 1, 2, 3],
        feature_strides=[1, 2, 2, 2]),
    'ISAHead':
    dict(isa_channels=8, down_factor=(2, 2)),
    'LRASPPHead':
    dict(
        in_channels=(8, 16, 64),
        in_index=(0, 1, 2),
        channels=16,
        input_transform='multiple_select'),
    'LightHamHead':
    dict(
        in_channels=[16, 32, 64],
        in_index=[1, 2, 3],
        ham_channels=16,
        ham_kwargs=dict(MD_R=4)),
    'PSPHead':
    dict(pool_scales=(1, 2)),
    'SETRMLAHead':
    dict(in_channels=(64, 64), in_index=(3, 3), mla_channels=8, up_scale=2),
    'SETRUPHead':
    dict(num_convs=1, up_scale=2),
    'STDCHead':
    dict(num_convs=1),
    'SegformerHead':
    dict(in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3]),
    'UPerHead':
    dict(
        in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3],
        pool_scales=(1, 2)),
    'SegmenterMaskTransformerHead':
    dict(num_layers=1, num_heads=2, embed_dims=16, in_index=-1),
    'PSAHead':
    dict(mask_size=(8, 8)),
    'DDRHead':
    dict(
        in_channels=64,
        loss_decode=[
            dict(type='CrossEntropyLoss'),
            dict(type='CrossEntropyLoss', loss_weight=0.4)
        ]),
    'PIDHead':
    dict(
        in_channels=64,
        loss_decode=[
            dict(type='CrossEntropyLoss'),
            dict(type='CrossEntropyLoss'),
            dict(type='BoundaryLoss'),
            dict(type='OhemCrossEntropy', min_kept=64)
        ]),
    'DPTHead':
    dict(
        in_channels=(16, 16, 16, 16),
        in_index=(0, 1, 2, 3),
        embed_dims=16,
        post_process_channels=[8, 8, 8, 8],
        input_transform='multiple_select'),
    'VPDDepthHead':
    dict(),
    'OCRHead':
    dict(ocr_channels=8),
    'PointHead':
    dict(),
}

# heads that take inputs other than the 4-level feature pyramid
FEATS = {
    'DDRHead':
    lambda: [
        torch.randn(2, 32, 16, 16, requires_grad=True),
        torch.randn(2, 64, 16, 16, requires_grad=True)
    ],
    'PIDHead':
    lambda: [
        torch.randn(2, 32, 16, 16, requires_grad=True),
        torch.randn(2, 64, 16, 16, requires_grad=True),
        torch.randn(2, 32, 16, 16, requires_grad=True)
    ],
    'DPTHead':
    lambda: [[
        torch.randn(2, 16, 4, 4, requires_grad=True),
        torch.randn(2, 16, requires_grad=True)
    ] for _ in range(4)],
    'LRASPPHead':
    lambda:
    [torch.randn(2, c, 64, 64, requires_grad=True) for c in (8, 16, 64)],
}


def _labels(ignore=True, size=16):
    return seg_samples(
        random_labels(size=size, ignore_frac=0.2 if ignore else 0.0))


def _with_edges():
    samples = _labels(ignore=False)
    for s in samples:
        s.gt_edge_map = PixelData(data=(torch.rand(1, 16, 16) > 0.8).long())
    return samples


SAMPLES = {
    # DDRNet's and PIDNet's own losses do not skip ignored pixels
    'DDRHead': lambda: _labels(ignore=False),
    'PIDHead': _with_edges,
    'LRASPPHead': lambda: _labels(size=64),
}


def head_args(name):
    args = dict(
        in_channels=64,
        in_index=3,
        channels=16,
        num_classes=NUM_CLASSES,
        norm_cfg=BN,
        align_corners=False,
        dropout_ratio=0.0)
    args.update(ARGS.get(name, {}))
    return args


def run_loss(head, name):
    torch.manual_seed(0)
    head.train()
    feats = FEATS.get(name, lambda: feature_pyramid(size=16))()
    samples = SAMPLES.get(name, _labels)()
    return head.loss(feats, samples, None)


@pytest.mark.parametrize('name', DECODE_HEADS)
def test_decode_head_is_served_or_refused_at_build(name):
    init_default_scope('mmseg')
    cfg = dict(
        head_args(name),
        type='CoreContrastiveSegHead',
        wrapped_type=name,
        proj_channels=8,
        max_pixels=64)
    reason = unsupported_reason(MODELS.get(name))
    if reason is not None:
        with pytest.raises(TypeError) as err:
            MODELS.build(cfg)
        assert str(err.value) == (
            f'CoreContrastiveSegHead cannot wrap {name}: {reason}')
        return
    if name in NEEDS_COMPILED_MMCV:
        with pytest.raises(RuntimeError, match='mmcv compiled op'):
            run_loss(MODELS.build(dict(head_args(name), type=name)), name)
        pytest.skip(f'{name} needs compiled mmcv ops (mmcv-lite here)')
    plain = run_loss(MODELS.build(dict(head_args(name), type=name)), name)
    try:  # the stock head's own backward, on this torch
        sum(v for k, v in plain.items() if 'loss' in k).backward()
    except RuntimeError as e:
        if 'inplace operation' not in str(e):
            raise
        # mmseg 1.2.2's DNLHead subtracts means in place from a view;
        # torch 2.1's autograd refuses that for the stock head as well
        pytest.skip(f"mmseg's own {name} cannot backward on torch "
                    f'{torch.__version__} (an in-place op in its forward)')
    head = MODELS.build(cfg)
    losses = run_loss(head, name)
    assert {'loss_ce_mix', 'loss_con', 'con_unscaled'} <= set(losses)
    # the wrapped head's own loss terms are all still there
    assert set(plain) <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses['loss_con'] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert head.projector.fc1.weight.grad.abs().sum() > 0
