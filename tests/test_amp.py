"""Mixed precision: the Core-tuning path under bfloat16 autocast on CPU (the
code path --amp takes on GPU with float16); the contrast stays float32."""
import os.path as osp

import torch
from conftest import CONFIG_DIR, load_tool
from mmengine.config import Config
from mmpretrain.structures import DataSample

import coretune_mm  # noqa: F401
from coretune_mm.core import losses as core_losses
from coretune_mm.utils import build_model_without_checkpoints


def build(path):
    model = build_model_without_checkpoints(Config.fromfile(path))
    model.init_weights()
    return model.train()


def test_bf16_autocast_classification_step(monkeypatch):
    model = build(
        osp.join(CONFIG_DIR, 'cpu',
                 'coretune_resnet18w16-mocov2_1xb32-20i_cifar10-32.py'))
    seen = []
    original = core_losses._focal_supcon_terms

    def spy(z, *args, **kwargs):
        seen.append(z.dtype)
        return original(z, *args, **kwargs)

    monkeypatch.setattr(core_losses, '_focal_supcon_terms', spy)
    data = dict(
        inputs=[torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)
                for _ in range(8)],
        data_samples=[DataSample().set_gt_label(i % 4) for i in range(8)])
    processed = model.data_preprocessor(data, True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        feats = model.extract_feat(processed['inputs'])
        assert feats[-1].dtype == torch.bfloat16  # really under autocast
        losses = model.head.loss(feats, processed['data_samples'])
    assert seen == [torch.float32]  # the contrast ran in float32
    assert losses['loss_con'].dtype == torch.float32
    assert losses['loss_ce_mix'].dtype == torch.float32
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.head.projector.fc1.weight.grad is not None


def test_bf16_autocast_segmentation_step():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    model = build(
        osp.join(CONFIG_DIR, 'cpu',
                 'coretune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py'))
    samples = []
    for i in range(2):
        s = SegDataSample()
        lab = torch.zeros(1, 64, 64, dtype=torch.long)
        lab[:, :32] = 5 + i
        lab[:, 40:] = 255
        s.gt_sem_seg = PixelData(data=lab)
        s.set_metainfo(dict(img_shape=(64, 64), pad_shape=(64, 64)))
        samples.append(s)
    inputs = torch.randn(2, 3, 64, 64)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(inputs, samples)
    for k in ('decode.loss_ce_mix', 'decode.loss_con'):
        assert losses[k].dtype == torch.float32
        assert torch.isfinite(losses[k])
    assert losses['decode.loss_con'] > 0


def test_train_tool_amp_flag_selects_amp_optim_wrapper():
    train = load_tool('train.py')
    cfg = train.build_config(
        train.parse_args([
            osp.join(CONFIG_DIR,
                     'coretune_resnet50-mocov2_1xb256-100e_cifar10-224.py'),
            '--amp'
        ]))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
