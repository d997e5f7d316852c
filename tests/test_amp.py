"""Mixed precision: the Core-tuning path under autocast -- bfloat16 on the
CPU, float16 on the CPU where this torch has it, float16 and bfloat16 on
CUDA where there is a GPU (the path --amp takes); the contrast stays
float32."""
import os.path as osp

import pytest
import torch
from conftest import (AUTOCAST_CASES, CONFIG_DIR, CPU_FP16_AUTOCAST, DEVICES,
                      grad_scaler, load_tool)
from mmengine.config import Config
from mmpretrain.structures import DataSample

import coretune_mm  # noqa: F401
from coretune_mm.core import losses as core_losses
from coretune_mm.utils import build_model_without_checkpoints


def build(path, device='cpu'):
    model = build_model_without_checkpoints(Config.fromfile(path))
    model.init_weights()
    return model.to(device).train()


@pytest.mark.parametrize('device,dtype', AUTOCAST_CASES)
def test_autocast_classification_step(device, dtype, monkeypatch):
    model = build(
        osp.join(CONFIG_DIR, 'cpu',
                 'coretune_resnet18w16-mocov2_1xb32-20i_cifar10-32.py'),
        device)
    seen = []
    original = core_losses._focal_supcon_terms

    def spy(z, *args, **kwargs):
        seen.append(z.dtype)
        return original(z, *args, **kwargs)

    monkeypatch.setattr(core_losses, '_focal_supcon_terms', spy)
    data = dict(
        inputs=[
            torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)
            for _ in range(8)
        ],
        data_samples=[DataSample().set_gt_label(i % 4) for i in range(8)])
    processed = model.data_preprocessor(data, True)
    with torch.autocast(device, dtype=dtype):
        feats = model.extract_feat(processed['inputs'])
        assert feats[-1].dtype == dtype  # really under autocast
        losses = model.head.loss(feats, processed['data_samples'])
    assert seen == [torch.float32]  # the contrast ran in float32
    assert losses['loss_con'].dtype == torch.float32
    assert losses['loss_ce_mix'].dtype == torch.float32
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.head.projector.fc1.weight.grad is not None


@pytest.mark.parametrize('device,dtype', AUTOCAST_CASES)
def test_autocast_segmentation_step(device, dtype):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    model = build(
        osp.join(CONFIG_DIR, 'cpu',
                 'coretune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py'),
        device)
    samples = []
    for i in range(2):
        s = SegDataSample()
        lab = torch.zeros(1, 64, 64, dtype=torch.long)
        lab[:, :32] = 5 + i
        lab[:, 40:] = 255
        s.gt_sem_seg = PixelData(data=lab)
        s.set_metainfo(dict(img_shape=(64, 64), pad_shape=(64, 64)))
        samples.append(s.to(device))
    inputs = torch.randn(2, 3, 64, 64, device=device)
    with torch.autocast(device, dtype=dtype):
        losses = model.loss(inputs, samples)
    for k in ('decode.loss_ce_mix', 'decode.loss_con'):
        assert losses[k].dtype == torch.float32
        assert torch.isfinite(losses[k])
    assert losses['decode.loss_con'] > 0


def test_train_tool_amp_flag_selects_amp_optim_wrapper():
    train = load_tool('train.py')
    cfg = train.build_config(
        train.parse_args([
            osp.join(
                CONFIG_DIR,
                'coretune/coretune_resnet50-mocov2_1xb256-100e_cifar10-224.py'
            ), '--amp'
        ]))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


@pytest.mark.parametrize('device,dtype', AUTOCAST_CASES)
def test_auto_nonfinite_mode_skips_only_under_float16_autocast(device, dtype):
    from coretune_mm.core.compat import autocast_dtype
    from coretune_mm.core.decision import resolve_nonfinite
    assert autocast_dtype(device) is None
    assert resolve_nonfinite('auto', device) == 'raise'
    with torch.autocast(device, dtype=dtype):
        assert autocast_dtype(device) == dtype
        expected = 'skip' if dtype == torch.float16 else 'raise'
        assert resolve_nonfinite('auto', device) == expected
        assert resolve_nonfinite('raise', device) == 'raise'
        # autocast of another device type is not this one's
        other = 'cuda' if device == 'cpu' else 'cpu'
        assert resolve_nonfinite('auto', other) == 'raise'
    assert autocast_dtype(device) is None


def test_cpu_float16_autocast_detection_matches_this_torch():
    """The fp16 CPU cases above run exactly where this torch has float16
    CPU autocast (torch 2.1 refuses it; newer releases run it)."""
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with torch.autocast('cpu', dtype=torch.float16):
                works = (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == \
                    torch.float16
    except RuntimeError:
        works = False
    assert CPU_FP16_AUTOCAST is works


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('where', ['logit', 'feature'])
def test_amp_optim_wrapper_skips_a_step_with_an_inf(where, device,
                                                    monkeypatch):
    """A real mmengine AmpOptimWrapper (its loss scaler a torch GradScaler
    on the CPU) and a real train_step: an inf logit, or an inf in the pooled
    features (an fp16 overflow upstream), makes the step's losses non-finite
    (nonfinite='skip') instead of raising; the scaler skips the update and
    lowers its scale; the next step trains."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper as amp

    # the wrapper asserts a GPU at construction; its update logic is the
    # device-agnostic torch GradScaler's, given here for the CPU
    monkeypatch.setattr(amp, 'is_cuda_available', lambda: True)
    scaler = grad_scaler(device, 2.0**8)
    model = build(
        osp.join(CONFIG_DIR, 'cpu',
                 'coretune_resnet18w16-mocov2_1xb32-20i_cifar10-32.py'),
        device)
    model.head.core_loss.nonfinite = 'skip'
    optim = amp.AmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        dtype='bfloat16' if device == 'cpu' else 'float16')
    optim.loss_scaler = scaler
    g = torch.Generator().manual_seed(0)
    data = dict(
        inputs=[
            torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8, generator=g)
            for _ in range(8)
        ],
        data_samples=[DataSample().set_gt_label(i % 4) for i in range(8)])

    def put_inf(module, args, out):
        if isinstance(out, tuple):  # the neck: (pooled features, )
            return (put_inf(module, args, out[0]), )
        out = out.clone()
        out[0, 0] = float('inf')
        return out

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    module = model.head.fc if where == 'logit' else model.neck
    handle = module.register_forward_hook(put_inf)
    log_vars = model.train_step(data, optim)
    handle.remove()
    assert not torch.isfinite(log_vars['loss'])
    assert optim.loss_scaler.get_scale() == 2.0**7  # the scaler backed off
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), f'{n} changed in a skipped step'

    log_vars = model.train_step(data, optim)
    assert all(torch.isfinite(v) for v in log_vars.values())
    changed = [
        n for n, p in model.named_parameters()
        if not torch.equal(p, before[n])
    ]
    assert 'head.fc.weight' in changed and 'head.projector.fc1.weight' in \
        changed
    assert all(torch.isfinite(p).all() for p in model.parameters())
