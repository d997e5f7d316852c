"""tools/convert_csl_checkpoint.py on the real mmpretrain MoCo-v2 checkpoint
and on dictionaries in each foreign layout built from real key names."""
import os
import os.path as osp

import pytest
import torch
import torchvision
from conftest import CONFIG_DIR, MOCO_CKPT, REPO_ROOT, load_tool, require_data
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONVERT = load_tool('convert_csl_checkpoint.py')


def tv_resnet(depth=50, seed=0):
    torch.manual_seed(seed)
    model = getattr(torchvision.models, f'resnet{depth}')()
    return {k: v.clone() for k, v in model.state_dict().items()}


def layouts():
    """Checkpoint dicts in the layouts of the public CSL code bases."""
    q, k = tv_resnet(seed=0), tv_resnet(seed=1)  # query / momentum encoders
    mlp = {
        'fc.0.weight': torch.randn(2048, 2048),
        'fc.2.weight': torch.randn(128, 2048)
    }
    no_fc = {n: v for n, v in q.items() if not n.startswith('fc.')}
    return {
        'moco-v2':
        dict(
            epoch=200,
            arch='resnet50',
            state_dict={
                **{
                    'module.encoder_q.' + n: v
                    for n, v in {
                        **no_fc,
                        **mlp
                    }.items()
                },
                **{
                    'module.encoder_k.' + n: v
                    for n, v in k.items()
                }, 'module.queue': torch.randn(128, 65536),
                'module.queue_ptr': torch.zeros(1)
            }),
        'moco-v3':
        dict(
            state_dict={
                **{
                    'module.base_encoder.' + n: v
                    for n, v in {
                        **no_fc,
                        **mlp
                    }.items()
                },
                **{
                    'module.momentum_encoder.' + n: v
                    for n, v in k.items()
                }, 'module.predictor.0.weight': torch.randn(4096, 256)
            }),
        'simclr-torchvision':
        dict(state_dict=q),  # e.g. simclr-converter
        'simclr-encoder': {
            **{
                'encoder.' + n: v
                for n, v in no_fc.items()
            }, 'projector.0.weight': torch.randn(2048, 2048)
        },
        'byol-online-target':
        dict(
            online_network_state_dict={
                **{
                    'encoder.' + n: v
                    for n, v in no_fc.items()
                }, 'projection.net.0.weight': torch.randn(4096, 2048)
            },
            target_network_state_dict={
                'encoder.' + n: v
                for n, v in k.items()
            }),
        'mmpretrain':
        dict(
            meta={},
            state_dict={
                **{
                    'backbone.' + n: v
                    for n, v in no_fc.items()
                }, 'neck.mlp.0.weight': torch.randn(2048, 2048)
            }),
        # DINO's main_dino.py: the student is DDP-wrapped, the teacher not;
        # the teacher is the model DINO evaluates
        'dino':
        dict(
            student={
                **{
                    'module.backbone.' + n: v
                    for n, v in k.items()
                }, 'module.head.mlp.0.weight': torch.randn(2048, 2048)
            },
            teacher={
                **{
                    'backbone.' + n: v
                    for n, v in no_fc.items()
                }, 'head.last_layer.weight_g': torch.randn(65536, 1)
            },
            epoch=100),
        # VISSL: classy_state_dict -> base_model -> model -> trunk / heads
        'vissl':
        dict(
            classy_state_dict=dict(
                base_model=dict(
                    model=dict(
                        trunk={
                            '_feature_blocks.' + n: v
                            for n, v in no_fc.items()
                        },
                        heads={'0.clf.0.weight': torch.randn(128, 2048)})))),
        # SimCLRv2 PyTorch port (r50_1x_sk0.pth): {'resnet': ..., 'head': ..}
        'simclrv2':
        dict(
            resnet={
                **{
                    simclrv2_name(n): v
                    for n, v in no_fc.items()
                }, 'fc.weight': torch.randn(1000, 2048)
            },
            head={'layers.0.0.weight': torch.randn(2048, 2048)}),
        # a BYOL port whose encoder is nn.Sequential(*resnet.children()[:-1])
        'byol-sequential':
        dict(
            online={
                sequential_name('encoder.', n): v
                for n, v in no_fc.items()
            },
            target={
                sequential_name('encoder.', n): v
                for n, v in k.items() if not n.startswith('fc.')
            }),
        # solo-learn (PyTorch Lightning): backbone.* beside projector.*
        'solo-learn': {
            'pytorch-lightning_version': '1.5.0',
            'hyper_parameters': {},
            'state_dict': {
                **{
                    'backbone.' + n: v
                    for n, v in no_fc.items()
                }, 'projector.0.weight': torch.randn(2048, 2048),
                **{
                    'momentum_backbone.' + n: v
                    for n, v in k.items() if not n.startswith('fc.')
                }
            }
        },
        # sthalles/SimCLR: the MLP replaces backbone.fc
        'simclr-sthalles':
        dict(
            arch='resnet50',
            state_dict={
                **{
                    'backbone.' + n: v
                    for n, v in no_fc.items()
                }, 'backbone.fc.0.weight': torch.randn(2048, 2048),
                'backbone.fc.2.weight': torch.randn(128, 2048)
            }),
    }


# the layout each checkpoint must be reported as
LAYOUT_NAMES = {
    'moco-v2': 'MoCo v1/v2 (facebookresearch)',
    'moco-v3': 'MoCo v3 (facebookresearch)',
    'simclr-torchvision': 'torchvision layout',
    'simclr-encoder': 'SimCLR / BYOL (encoder)',
    'byol-online-target': 'BYOL (online network)',
    'mmpretrain': 'mmpretrain / mmselfsup self-supervised',
    'dino': 'DINO (teacher)',
    'vissl': 'VISSL (trunk)',
    'simclrv2': 'SimCLRv2 (PyTorch port of the TF checkpoints)',
    'byol-sequential':
    'ResNet as nn.Sequential (BYOL port: encoder.4.0 = layer1.0)',
    'solo-learn': 'solo-learn (PyTorch Lightning)',
    'simclr-sthalles': 'SimCLR (sthalles/SimCLR port: MLP in backbone.fc)',
}


def sequential_name(prefix, name):
    """torchvision name -> its key in ``nn.Sequential(*children()[:-1])``."""
    index = {
        'conv1': 0,
        'bn1': 1,
        'layer1': 4,
        'layer2': 5,
        'layer3': 6,
        'layer4': 7
    }
    head, rest = name.split('.', 1)
    return f'{prefix}{index[head]}.{rest}'


def simclrv2_name(name):
    """torchvision name -> the SimCLRv2 PyTorch port's (Stem/Blocks/
    BottleneckBlock with BatchNormRelu = Sequential(BN, ReLU))."""
    if name.startswith('conv1.'):
        return 'net.0.net.0.' + name[len('conv1.'):]
    if name.startswith('bn1.'):
        return 'net.0.net.1.0.' + name[len('bn1.'):]
    layer, block, part, rest = name.split('.', 3)
    stage = f'net.{layer[len("layer"):]}.blocks.{block}.'
    if part == 'downsample':
        index, tail = rest.split('.', 1)
        return stage + ('projection.shortcut.'
                        if index == '0' else 'projection.bn.0.') + tail
    k = int(part[-1]) - 1  # conv1..3 -> net.0/2/4, bn1..3 -> net.1/3/5 .0
    return stage + (f'net.{2 * k}.' if part.startswith('conv') else
                    f'net.{2 * k + 1}.0.') + rest


@pytest.mark.parametrize('layout', list(layouts()))
def test_foreign_layouts_convert_to_query_encoder(layout, tmp_path, capsys):
    src, dst = tmp_path / 'src.pth', tmp_path / 'dst.pth'
    torch.save(layouts()[layout], src)
    assert CONVERT.main([str(src), str(dst)]) == 0
    printed = capsys.readouterr().out
    assert 'matched: 318/318 backbone keys' in printed  # all but fc.*
    assert f'layout: {LAYOUT_NAMES[layout]} (' in printed
    out = torch.load(dst, weights_only=False)['state_dict']
    expected = {
        n: v
        for n, v in tv_resnet(seed=0).items() if not n.startswith('fc.')
    }
    assert set(out) == {'backbone.' + n for n in expected}
    for n, v in expected.items():  # the query/online encoder, not momentum
        assert torch.equal(out['backbone.' + n], v), n


def test_mmseg_target_with_plain_stem(tmp_path):
    src, dst = tmp_path / 'src.pth', tmp_path / 'dst.pth'
    torch.save(layouts()['moco-v2'], src)
    cfg = osp.join(CONFIG_DIR, 'coretune_deeplabv3_voc.py')
    assert CONVERT.main([str(src), str(dst), '--config', cfg]) == 0
    # the converted weights load into the config's backbone, every key
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    backbone_cfg = Config.fromfile(cfg).model.backbone
    backbone_cfg.update(
        norm_cfg=dict(type='BN'),
        init_cfg=dict(
            type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()
    ref = layouts()['moco-v2']['state_dict']
    for n, v in backbone.state_dict().items():
        assert torch.equal(v, ref['module.encoder_q.' + n]), n


def test_mismatching_backbones_fail_loudly(tmp_path, capsys):
    src, dst = tmp_path / 'r18.pth', tmp_path / 'dst.pth'
    torch.save({'state_dict': tv_resnet(depth=18)}, src)
    assert CONVERT.main([str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert 'does not match the target backbone' in err
    assert 'missing' in err or 'shape mismatch' in err
    assert not dst.exists()
    # one missing tensor is enough to fail
    state = tv_resnet()
    del state['layer4.2.conv3.weight']
    torch.save({'state_dict': state}, src)
    assert CONVERT.main([str(src), str(dst)]) == 1
    assert 'layer4.2.conv3.weight' in capsys.readouterr().err
    torch.save({'optimizer': {}, 'epoch': 3}, src)
    assert CONVERT.main([str(src), str(dst)]) == 1
    assert 'no tensor dictionary' in capsys.readouterr().err


def test_real_mmpretrain_moco_checkpoint(tmp_path, capsys):
    require_data(MOCO_CKPT)
    dst = tmp_path / 'backbone.pth'
    cfg = osp.join(
        CONFIG_DIR,
        'coretune/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py')
    assert CONVERT.main([MOCO_CKPT, str(dst), '--config', cfg]) == 0
    printed = capsys.readouterr().out
    assert "prefix 'backbone.'" in printed  # not the momentum encoder
    assert 'missing: 0' in printed
    src = torch.load(MOCO_CKPT, weights_only=False)['state_dict']
    out = torch.load(dst, weights_only=False)['state_dict']
    assert set(out) == {k for k in src if k.startswith('backbone.')}
    for k, v in out.items():
        assert torch.equal(v, src[k])


class PickledObject:
    """Unpickling this runs code: a weights-only load must refuse it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_record_unpickled, (self.marker, ))


UNPICKLED = []


def _record_unpickled(marker):
    UNPICKLED.append(marker)
    return marker


def test_unsafe_checkpoint_needs_the_flag(tmp_path, capsys):
    """A checkpoint that holds a pickled custom object is refused without
    --unsafe-load (with a message naming the flag, nothing unpickled) and
    converted with it."""
    src, dst = tmp_path / 'csl.pth', tmp_path / 'out.pth'
    torch.save(
        dict(layouts()['simclr-torchvision'], args=PickledObject('ran')), src)
    UNPICKLED.clear()
    assert CONVERT.main([str(src), str(dst), '--depth', '50']) == 1
    err = capsys.readouterr().err
    assert '--unsafe-load' in err and 'weights-only' in err
    assert not UNPICKLED and not dst.exists()
    assert CONVERT.main([str(src),
                         str(dst), '--depth', '50', '--unsafe-load']) == 0
    assert UNPICKLED == ['ran'] and dst.exists()
    # the relaxation was for that one load: a later plain load refuses again
    # (torch 2.1 words it "Weights only load failed ... Unsupported class")
    with pytest.raises(
            Exception, match='(?i)weights.only|Unsupported (global|class)'):
        torch.load(src, weights_only=True)


def test_unsafe_load_applies_to_a_url(tmp_path, capsys):
    """SRC as a URL is loaded from the torch hub cache like a file: weights
    only unless --unsafe-load (not through a loader that ignores the
    flag)."""
    url = 'https://example.invalid/csl/simclr_args.pth'
    hub = tmp_path / 'hub'
    (hub / 'checkpoints').mkdir(parents=True)
    torch.save(
        dict(layouts()['simclr-torchvision'], args=PickledObject('url')),
        hub / 'checkpoints' / 'simclr_args.pth')
    dst = tmp_path / 'out.pth'
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    try:
        UNPICKLED.clear()
        assert CONVERT.main([url, str(dst), '--depth', '50']) == 1
        assert '--unsafe-load' in capsys.readouterr().err
        assert not UNPICKLED and not dst.exists()
        assert CONVERT.main([url,
                             str(dst), '--depth', '50', '--unsafe-load']) == 0
        assert UNPICKLED == ['url']
        assert torch.load(dst, weights_only=False)['meta']['source'] == url
    finally:
        torch.hub.set_dir(old)


def test_mmengine_checkpoint_loads_weights_only():
    """A real mmengine checkpoint (message hub: HistoryBuffer, numpy)
    loads weights-only without any flag or environment variable, and the
    allow-listed getattr serves HistoryBuffer statistics only."""
    import os
    import pickle

    from coretune_mm.utils.safe_load import (_history_buffer_getattr,
                                             load_checkpoint_file)
    require_data(MOCO_CKPT)
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    ckpt = torch.load(MOCO_CKPT, map_location='cpu')  # torch's default
    assert 'backbone.conv1.weight' in ckpt['state_dict']
    buf = load_checkpoint_file(
        MOCO_CKPT)['message_hub']['log_scalars']['train/loss']
    assert buf.mean() > 0
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        _history_buffer_getattr(os, 'system')


MOCO_NAME = 'mocov2_resnet50_8xb32-coslr-200e_in1k'


def test_mmpretrain_names_resolve_offline(capsys):
    """Model names resolve to the URLs of the installed mmpretrain's model
    index; an unknown name fails with the nearest names."""
    from coretune_mm.utils import (csl_checkpoint_url, csl_models,
                                   resolve_checkpoint)
    url = csl_checkpoint_url(MOCO_NAME)
    assert url.startswith('https://download.openmmlab.com/mmselfsup/')
    assert osp.basename(url).startswith(MOCO_NAME)
    assert csl_checkpoint_url('mmpretrain://' + MOCO_NAME) == url
    assert resolve_checkpoint(MOCO_NAME) == 'mmpretrain://' + MOCO_NAME
    assert resolve_checkpoint(url) == url
    rows = {name: (algo, u) for name, algo, u in csl_models()}
    assert rows[MOCO_NAME] == ('MoCoV2', url)
    assert {'SimCLR', 'BYOL', 'SwAV',
            'BarlowTwins'} <= {algo
                               for algo, _ in rows.values()}
    assert all('_resnet' in name for name in rows)  # ResNet backbones only
    with pytest.raises(FileNotFoundError, match=f'did you mean {MOCO_NAME}'):
        resolve_checkpoint('mocov2_resnet50_8xb32-coslr-100e_in1k')
    # a short prefix, too far for difflib: the names it starts
    with pytest.raises(
            FileNotFoundError, match='did you mean mocov3_resnet50_'):
        resolve_checkpoint('mocov3')
    assert CONVERT.main(['--list']) == 0
    listed = capsys.readouterr().out.splitlines()
    assert f'{MOCO_NAME}\tMoCoV2\t{url}' in listed
    assert len(listed) == len(rows)


def test_mmpretrain_name_loads_through_mmengine(tmp_path, capsys):
    """``mmpretrain://NAME`` goes through mmengine's checkpoint loading to
    the model's URL: with the file already in the torch hub cache (where
    mmengine would download it), a backbone's init_cfg and the converter
    load it without network."""
    from mmpretrain.registry import MODELS

    from coretune_mm.utils import csl_checkpoint_url
    weights = {'backbone.' + n: v for n, v in tv_resnet(depth=18).items()}
    hub = tmp_path / 'hub'
    (hub / 'checkpoints').mkdir(parents=True)
    torch.save(
        dict(
            meta={},
            state_dict={
                **weights, 'neck.mlp.0.weight': torch.randn(512, 512)
            }),
        hub / 'checkpoints' / osp.basename(csl_checkpoint_url(MOCO_NAME)))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    try:
        init_default_scope('mmpretrain')
        backbone = MODELS.build(
            dict(
                type='ResNet',
                depth=18,
                init_cfg=dict(
                    type='Pretrained',
                    checkpoint='mmpretrain://' + MOCO_NAME,
                    prefix='backbone.')))
        backbone.init_weights()
        for n, v in backbone.state_dict().items():
            assert torch.equal(v, weights['backbone.' + n]), n
        dst = tmp_path / 'dst.pth'
        assert CONVERT.main([MOCO_NAME, str(dst), '--depth', '18']) == 0
        assert 'mmpretrain / mmselfsup' in capsys.readouterr().out
        out = torch.load(dst, weights_only=False)
        assert out['meta']['source'] == 'mmpretrain://' + MOCO_NAME
        assert set(out['state_dict']) == {
            k
            for k in weights if not k.startswith('backbone.fc.')
        }
    finally:
        torch.hub.set_dir(old)


def test_not_a_checkpoint_and_a_corrupted_one_are_said_as_such(
        tmp_path, capsys):
    """A text file and a real checkpoint behind random bytes: the converter
    says "not a PyTorch checkpoint" / "corrupted" -- not the weights-only
    advice -- with or without --unsafe-load; exit 1, nothing written."""
    good = tmp_path / 'good.pth'
    torch.save(layouts()['simclr-torchvision'], good)
    text = tmp_path / 'text.pth'
    text.write_text('not a checkpoint\n')
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(os.urandom(64) + good.read_bytes())
    dst = tmp_path / 'out.pth'
    for src, said in ((text, 'is not a PyTorch checkpoint'), (broken,
                                                              'corrupted')):
        for unsafe in ([], ['--unsafe-load']):
            assert CONVERT.main([str(src),
                                 str(dst), '--depth', '50', *unsafe]) == 1
            err = capsys.readouterr().err
            assert said in err and '--unsafe-load' not in err, err
            assert not dst.exists()


def test_restricted_unpickler_is_the_weights_only_load_of_older_torch(
        moco_ckpt, tmp_path):
    """The load torch 2.0-2.5 get (no allow-list of pairs there), run on
    this torch too: a real mmengine checkpoint (HistoryBuffer, numpy) and a
    tensors-only one load; a pickled custom object and any other callable
    are refused with torch's wording; load_checkpoint_file takes this path
    wherever torch lacks the allow-list."""
    import pickle

    from coretune_mm.utils import safe_load
    mod = safe_load._RestrictedPickleModule
    ckpt = torch.load(
        moco_ckpt, map_location='cpu', weights_only=False, pickle_module=mod)
    assert ckpt['message_hub']['log_scalars']['train/loss'].mean() > 0
    ref = torch.load(moco_ckpt, map_location='cpu', weights_only=False)
    assert all(
        torch.equal(ckpt['state_dict'][k], v)
        for k, v in ref['state_dict'].items())
    plain = tmp_path / 'plain.pth'
    torch.save({'w': torch.arange(3)}, plain)
    assert torch.equal(
        torch.load(plain, weights_only=False, pickle_module=mod)['w'],
        torch.arange(3))
    unsafe = tmp_path / 'unsafe.pth'
    torch.save(dict(args=PickledObject('restricted')), unsafe)
    UNPICKLED.clear()
    with pytest.raises(pickle.UnpicklingError, match='Unsupported global'):
        torch.load(unsafe, weights_only=False, pickle_module=mod)
    assert not UNPICKLED
    evil = tmp_path / 'evil.pth'
    evil.write_bytes(pickle.dumps({'x': os.system}, protocol=2))
    assert pickle.loads(evil.read_bytes())['x'] is os.system  # plain pickle
    with open(evil, 'rb') as f, pytest.raises(
            pickle.UnpicklingError, match='Unsupported global: GLOBAL posix'):
        mod.load(f)
    assert safe_load.NATIVE_ALLOW_LIST == hasattr(
        torch.serialization, 'get_unsafe_globals_in_checkpoint')


def test_an_unreachable_download_is_said_without_a_traceback(tmp_path, capsys):
    """A URL (or mmpretrain:// name) not in the torch hub cache and no
    network: exit 1 with "could not download" and where to put the file."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'empty-hub'))
    try:
        assert CONVERT.main([
            'https://example.invalid/csl/missing.pth',
            str(tmp_path / 'out.pth')
        ]) == 1
    finally:
        torch.hub.set_dir(old)
    err = capsys.readouterr().err
    assert 'could not download' in err and 'empty-hub' in err
    assert 'Traceback' not in err


def test_every_tool_that_loads_checkpoints_has_the_flag_its_advice_names():
    """load_checkpoint_file's refusal says "pass --unsafe-load": each tool
    that loads through it has that flag."""
    import glob
    import subprocess
    import sys
    tools = []
    for path in glob.glob(
            osp.join(REPO_ROOT, 'tools', '**', '*.py'), recursive=True):
        with open(path) as f:
            if 'load_checkpoint_file' in f.read():
                tools.append(path)
    assert len(tools) >= 3
    for path in tools:
        out = subprocess.run([sys.executable, path, '--help'],
                             capture_output=True,
                             text=True,
                             cwd=REPO_ROOT).stdout
        assert '--unsafe-load' in out, path
