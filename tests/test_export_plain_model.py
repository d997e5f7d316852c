"""tools/export_plain_model.py: the plain model (built by mmpretrain / mmseg
alone, in a process where coretune_mm cannot be imported) predicts what the
Core-tuned model predicts on the same inputs."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from conftest import CONFIG_DIR, REPO_ROOT, load_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope

import coretune_mm  # noqa: F401

EXPORT = load_tool('export_plain_model.py')

CLS = osp.join(CONFIG_DIR, 'cpu',
               'coretune_resnet18w16-mocov2_1xb32-20i_cifar10-32.py')
SEG = osp.join(CONFIG_DIR, 'cpu',
               'coretune_deeplabv3plus_r18-d8_1xb2-20i_voc-mini-64.py')

# run in a fresh interpreter: coretune_mm blocked, the plain config built by
# the library's own registry, the checkpoint loaded strictly
CHILD = r'''
import sys
sys.modules['coretune_mm'] = None  # any import of it fails
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
cfg_path, ckpt_path, io_path, scope = sys.argv[1:5]
cfg = Config.fromfile(cfg_path)
assert 'custom_imports' not in cfg, cfg.get('custom_imports')
init_default_scope(scope)
if scope == 'mmseg':
    from mmseg.registry import MODELS
else:
    from mmpretrain.registry import MODELS
model = MODELS.build(cfg.model).eval()
load_checkpoint(model, ckpt_path, strict=True)
io = torch.load(io_path)
with torch.no_grad():
    data = model.data_preprocessor(dict(inputs=io['inputs']), False)
    io['plain'] = model(data['inputs'], mode='tensor')
torch.save(io, io_path)
'''


def core_model(cfg, scope):
    cfg = cfg.copy()
    init_default_scope(scope)
    if scope == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    cfg.model.backbone.pop('init_cfg', None)
    cfg.model.pop('pretrained', None)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # weights and BN statistics away from their init
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.add_(0.1 * torch.randn_like(b))
    return model.eval()


@pytest.mark.parametrize(
    'path,scope,options', [(CLS, 'mmpretrain', {}),
                           (CLS, 'mmpretrain', {
                               'model.head.bias': False
                           }), (SEG, 'mmseg', {})],
    ids=['cls', 'cls-bias-free', 'seg'])
def test_plain_model_predicts_as_the_core_model(path, scope, options, tmp_path,
                                                capsys):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    cfg_path = tmp_path / 'core.py'
    cfg.dump(str(cfg_path))
    model = core_model(cfg, scope)
    ckpt = tmp_path / 'core.pth'
    torch.save(dict(meta={'epoch': 1}, state_dict=model.state_dict()), ckpt)

    out = tmp_path / 'plain'
    assert EXPORT.main([str(cfg_path), str(ckpt), str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'heads made plain' in printed and 'projector' in printed
    plain = Config.fromfile(str(out / 'core_plain.py'))
    head = plain.model.get('head') or plain.model.decode_head
    assert head.type in ('LinearClsHead', 'DepthwiseSeparableASPPHead')
    state = torch.load(out / 'core_plain.pth', weights_only=False)
    assert set(state) == {'meta', 'state_dict'}  # no optimizer
    assert not any('projector' in k for k in state['state_dict'])

    torch.manual_seed(1)
    size = 32 if scope == 'mmpretrain' else 64
    inputs = [
        torch.randint(0, 256, (3, size, size), dtype=torch.uint8)
        for _ in range(3)
    ]
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=inputs), False)
        core = model(data['inputs'], mode='tensor')
    io_path = tmp_path / 'io.pt'
    torch.save(dict(inputs=inputs), io_path)
    proc = subprocess.run([
        sys.executable, '-c', CHILD,
        str(out / 'core_plain.py'),
        str(out / 'core_plain.pth'),
        str(io_path), scope
    ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plain_out = torch.load(io_path)['plain']
    assert plain_out.shape == core.shape
    torch.testing.assert_close(plain_out, core, rtol=0, atol=1e-5)
    assert torch.equal(plain_out.argmax(1), core.argmax(1))


def test_config_without_a_core_head_is_refused():
    cfg = Config.fromfile(CLS.replace('coretune_', 'cetune_'))
    with pytest.raises(ValueError, match='no Core-tuning head'):
        EXPORT.plain_config(cfg)


def test_a_checkpoint_that_is_not_a_model_of_the_config_is_refused(
        tmp_path, moco_ckpt):
    """The raw MoCo checkpoint (a backbone, no classifier) and a DeepLabV3+
    checkpoint for a classification config are refused with the missing /
    unexpected keys named; nothing is written."""
    seg_state = core_model(Config.fromfile(SEG), 'mmseg').state_dict()
    seg_ckpt = tmp_path / 'seg.pth'
    torch.save(dict(meta={}, state_dict=seg_state), seg_ckpt)
    for ckpt, said in ((moco_ckpt, 'missing keys: head.fc.bias, '
                        'head.fc.weight'), (str(seg_ckpt), 'unexpected keys: '
                                            'auxiliary_head.')):
        out = tmp_path / 'plain'
        with pytest.raises(
                ValueError, match='is not a trained model of') as err:
            EXPORT.main([CLS, ckpt, str(out)])
        assert said in str(err.value), str(err.value)
        assert not out.exists()


def test_not_a_checkpoint_is_said_as_such_and_the_flag_exists(tmp_path):
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint\n')
    for unsafe in ([], ['--unsafe-load']):
        with pytest.raises(ValueError, match='is not a PyTorch checkpoint'):
            EXPORT.main([CLS, str(text), str(tmp_path / 'out'), *unsafe])
