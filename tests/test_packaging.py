"""The package as users install it: a wheel that ships the configs, the
``coretune_mm::`` scope, and the files an OpenMMLab project carries."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest
import yaml
from conftest import CONFIG_DIR, REPO_ROOT

CLS_CFG = 'coretune/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'
SEG_CFG = ('coretune/coretune_deeplabv3plus_r50-d8-csl_4xb4-20k_'
           'voc12aug-512x512.py')

CHECK = textwrap.dedent(f"""
    import os, sys
    import coretune_mm
    # the wheel's copy, not the checkout's editable one
    assert coretune_mm.__file__.startswith(sys.argv[1]), coretune_mm.__file__
    from mmengine.config import Config
    from mmengine.hub import get_config
    cfg = get_config('coretune_mm::{CLS_CFG}')
    assert cfg.model.head.type == 'CoreContrastiveClsHead', cfg.model.head
    with open('my_config.py', 'w') as f:
        f.write("_base_ = ['coretune_mm::{SEG_CFG}']\\n"
                "model = dict(decode_head=dict(max_pixels=512))\\n")
    cfg = Config.fromfile('my_config.py')
    head = cfg.model.decode_head
    assert head.type == 'CoreContrastiveSegHead', head
    assert head.wrapped_type == 'DepthwiseSeparableASPPHead'
    assert head.max_pixels == 512
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    print('scope configs OK')
    """)


def test_wheel_install_resolves_configs_by_scope(tmp_path):
    # build from a copy: the build must not write into the checkout
    src = tmp_path / 'src'
    shutil.copytree(
        REPO_ROOT,
        src,
        ignore=shutil.ignore_patterns('.venv*', '.git', 'work_dirs', 'build',
                                      'dist', '*.egg-info', '.mim',
                                      '__pycache__', '.pytest_cache'))
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
        '--no-build-isolation', '-w',
        str(tmp_path / 'wheels'),
        str(src)
    ],
                   check=True,
                   capture_output=True)
    wheel, = (tmp_path / 'wheels').glob('coretune_mm-*.whl')

    # a fresh virtualenv that sees the current site-packages (the mm stack)
    # behind its own
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)],
                   check=True)
    py = venv / 'bin' / 'python'
    site = subprocess.run([
        str(py), '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'
    ],
                          check=True,
                          capture_output=True,
                          text=True).stdout.strip()
    with open(osp.join(site, 'zz_current_site.pth'), 'w') as f:
        f.write('import site; site.addsitedir('
                f'{sysconfig.get_path("purelib")!r})\n')
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
        '--no-index', '--target', site,
        str(wheel)
    ],
                   check=True,
                   capture_output=True)
    shipped = osp.join(site, 'coretune_mm', '.mim', 'configs', CLS_CFG)
    assert osp.isfile(shipped)
    assert osp.isfile(osp.join(site, 'coretune_mm', '.mim', 'model-index.yml'))

    # from a directory outside the repository
    work = tmp_path / 'elsewhere'
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run([str(py), '-c', CHECK, site],
                          cwd=work,
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'scope configs OK' in proc.stdout


def metafile_models():
    index = yaml.safe_load(open(osp.join(REPO_ROOT, 'model-index.yml')))
    for path in index['Import']:
        yield from yaml.safe_load(open(osp.join(REPO_ROOT, path)))['Models']


def test_metafile_lists_every_method_config():
    listed = set()
    for model in metafile_models():
        assert osp.isfile(osp.join(REPO_ROOT, model['Config']))
        listed.add(osp.relpath(model['Config'], 'configs'))
        for key in ('Log', 'Report'):
            if key in model:
                assert osp.isfile(osp.join(REPO_ROOT, model[key]))
    shipped = {
        f'{folder}/{name}'
        for folder in ('coretune', 'benchmarks')
        for name in os.listdir(osp.join(CONFIG_DIR, folder))
        if name.endswith('.py')
    }
    assert listed == shipped


def test_metafile_results_sit_under_the_config_that_produced_them():
    """A config of the effect benchmark (metadata: its variant and the
    selection it follows) is the config of that variant's final runs: its
    lr, epochs, head (eta included), batch and normalisation equal what the
    benchmark trains at the schedule of the committed selection.json; where
    it lists Results, they are the mean and std of the committed runs."""
    import json
    import statistics

    from mmengine.config import Config

    from coretune_mm.benchmark import effect
    checked = with_results = 0
    for model in metafile_models():
        meta = model.get('Metadata', {})
        if 'Effect Benchmark Variant' not in meta:
            assert 'Results' not in model, model['Name']  # no other source
            continue
        checked += 1
        variant = meta['Effect Benchmark Variant']
        with open(osp.join(REPO_ROOT, meta['Selection'])) as f:
            selection = json.load(f)
        effect.eta_variant(selection['chosen_eta'])
        sched = selection['chosen'][effect.VARIANTS[variant][0]]
        preset = effect.DATASETS[selection['dataset']]
        ran = effect.fine_tune_cfg(
            variant,
            data_root=preset['data_root'],
            checkpoint=preset['checkpoint'],
            work_dir='/tmp/unused',
            lr=sched['lr'],
            epochs=sched['epochs'],
            batch_size=preset['batch_size'],
            seed=0,
            val_interval=5,
            preprocessor=preset['preprocessor'])
        shipped = Config.fromfile(osp.join(REPO_ROOT, model['Config']))
        assert shipped.optim_wrapper == ran.optim_wrapper, model['Name']
        assert shipped.param_scheduler.T_max == ran.param_scheduler.T_max
        assert shipped.train_cfg.max_epochs == ran.train_cfg.max_epochs
        assert shipped.model.head == ran.model.head, model['Name']
        assert shipped.train_dataloader.batch_size == \
            ran.train_dataloader.batch_size
        for key in ('mean', 'std', 'to_rgb'):
            assert shipped.data_preprocessor[key] == \
                ran.data_preprocessor[key], key
        if 'Results' not in model:
            continue
        with_results += 1
        with open(osp.join(REPO_ROOT, model['Log'])) as f:
            runs = json.load(f)
        top1 = [
            run['curve'][-1]['top1'] for key, run in runs.items()
            if key.startswith(f'final | {variant} | seed ')
        ]
        metrics = model['Results'][0]['Metrics']
        assert round(statistics.mean(top1), 2) == metrics['Top 1 Accuracy']
        assert round(statistics.stdev(top1), 2) == \
            metrics[f'Top 1 Accuracy std ({len(top1)} seeds)']
    assert with_results >= 3 and checked >= with_results


def test_licence_and_citation():
    licence = open(osp.join(REPO_ROOT, 'LICENSE')).read()
    assert 'Apache License' in licence and 'Version 2.0' in licence
    cff = yaml.safe_load(open(osp.join(REPO_ROOT, 'CITATION.cff')))
    assert cff['cff-version'] == '1.2.0' and cff['license'] == 'Apache-2.0'
    paper = cff['preferred-citation']
    assert paper['title'].startswith('Unleashing the Power of Contrastive')
    assert [a['family-names'] for a in paper['authors']
            ] == ['Zhang', 'Hooi', 'Hu', 'Liang', 'Feng']
    readme = open(osp.join(REPO_ROOT, 'README.md')).read()
    assert '@inproceedings{zhang2021unleashing' in readme
    assert '@misc{coretune_mm' in readme


def run_python(code, cwd):
    proc = subprocess.run([sys.executable, '-W', 'ignore', '-c', code],
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_scoped_configs_resolve_from_any_folder(tmp_path):
    """With the editable install of `make test` (and the README), a
    coretune_mm:: path resolves outside the checkout too: get_config and a
    user config's _base_ (mmengine looked for .mim in site-packages)."""
    (tmp_path / 'mine.py').write_text(
        "_base_ = 'coretune_mm::coretune/"
        "coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py'\n")
    out = run_python(
        'import coretune_mm\n'
        'from mmengine.config import Config\n'
        'from mmengine.hub import get_config\n'
        "cfg = get_config('coretune_mm::coretune/"
        "coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py')\n"
        'print(cfg.model.head.type,\n'
        "      Config.fromfile('mine.py').model.head.type)\n",
        cwd=tmp_path)
    assert out.split() == ['CoreContrastiveClsHead'] * 2


@pytest.mark.parametrize('blocked', ['mmseg', 'mmpretrain'])
def test_one_library_alone_serves_its_own_head(blocked, tmp_path):
    """An mmpretrain-only (or mmseg-only) environment imports the package
    and builds and trains its own head; the other head names the missing
    library."""
    head = dict(
        mmseg='CoreContrastiveClsHead',
        mmpretrain='CoreContrastiveSegHead')[blocked]
    other = dict(
        mmseg='CoreContrastiveSegHead',
        mmpretrain='CoreContrastiveClsHead')[blocked]
    code = f'''
import sys
sys.modules[{blocked!r}] = None  # as if not installed
import torch
import coretune_mm
assert {other!r} not in coretune_mm.__all__
try:
    coretune_mm.{other}
    raise SystemExit('no error for the missing head')
except ImportError as err:
    assert {blocked!r} in str(err), err
if {head!r} == 'CoreContrastiveClsHead':
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    head = MODELS.build(dict(type={head!r}, num_classes=3, in_channels=8))
    feats = (torch.randn(6, 8), )
    losses = head.loss(feats, [DataSample().set_gt_label(i % 3)
                               for i in range(6)])
else:
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    head = MODELS.build(dict(type={head!r}, wrapped_type='FCNHead',
                             in_channels=8, channels=8, num_convs=1,
                             num_classes=3, norm_cfg=dict(type='BN')))
    samples = []
    for i in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 8, 8)))
        s.set_metainfo(dict(img_shape=(8, 8), ori_shape=(8, 8)))
        samples.append(s)
    losses = head.loss([torch.randn(2, 8, 8, 8)], samples, None)
assert 'loss_con' in losses and {blocked!r} not in sys.modules or \\
    sys.modules[{blocked!r}] is None
sum(v for k, v in losses.items() if 'loss' in k).backward()
print('ok')
'''
    assert run_python(code, cwd=tmp_path).strip() == 'ok'
