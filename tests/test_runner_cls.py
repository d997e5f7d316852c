"""Real mmengine Runner fine-tunes on real images in the CIFAR-10 layout
(conftest: scikit-learn's digits) from a real mmpretrain MoCo checkpoint."""
import os.path as osp

import pytest
import torch
from conftest import CIFAR_ROOT, CONFIG_DIR, MOCO_CKPT, require_data
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

CORE_CFG = osp.join(CONFIG_DIR, 'cpu',
                    'coretune_resnet18w16-mocov2_1xb32-20i_cifar10-32.py')


def small_run_cfg(path, work_dir, max_iters=4):
    """A configs/cpu config on the test data, fewer iterations."""
    require_data(CIFAR_ROOT)
    require_data(MOCO_CKPT)
    cfg = Config.fromfile(path)
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.init_cfg.checkpoint = MOCO_CKPT
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = CIFAR_ROOT
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters)
    cfg.param_scheduler.T_max = max_iters
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    return cfg


def test_csl_backbone_weights_are_loaded():
    cfg = small_run_cfg(CORE_CFG, '/tmp/unused')
    from mmpretrain.registry import MODELS

    import coretune_mm  # noqa: F401
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    model.init_weights()
    state = torch.load(
        MOCO_CKPT, map_location='cpu', weights_only=False)['state_dict']
    backbone = {
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    }
    own = model.backbone.state_dict()
    assert set(backbone) == set(own)
    for k, v in backbone.items():
        assert torch.equal(own[k], v), k


def test_core_tuning_runner_train_val_save_resume(tmp_path):
    cfg = small_run_cfg(CORE_CFG, tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    # FeatureScatter on the pooled features (PooledFeatureHook)
    assert metrics['scatter/ratio'] == pytest.approx(metrics['scatter/intra'] /
                                                     metrics['scatter/inter'])
    assert 0 < metrics['scatter/ratio']
    assert runner.iter == 4
    for it in (2, 4):
        assert osp.exists(osp.join(tmp_path, f'iter_{it}.pth'))
    ckpt = torch.load(
        osp.join(tmp_path, 'iter_4.pth'),
        map_location='cpu',
        weights_only=False)
    assert any(k.startswith('head.projector.') for k in ckpt['state_dict'])
    scalars = runner.message_hub.log_scalars
    assert {'train/loss_ce_mix', 'train/loss_con'} <= set(scalars)
    assert scalars['train/loss_con'].current() > 0

    # resume from the iteration-2 checkpoint in a fresh Runner
    cfg = small_run_cfg(CORE_CFG, tmp_path / 'resumed')
    cfg.resume = True
    cfg.load_from = osp.join(tmp_path, 'iter_2.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 4
    # it continued from iteration 2 instead of starting again
    assert not osp.exists(tmp_path / 'resumed' / 'iter_2.pth')
    assert osp.exists(tmp_path / 'resumed' / 'iter_4.pth')


def test_contrastive_init_hook_coin(tmp_path):
    cfg = small_run_cfg(CORE_CFG, tmp_path, max_iters=4)
    cfg.custom_hooks.append(dict(type='ContrastiveInitHook', ratio=0.5))
    cfg.log_processor.window_size = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    ce = runner.message_hub.get_scalar('train/loss_ce_mix').data[0]
    con = runner.message_hub.get_scalar('train/loss_con').data[0]
    assert list(ce[:2]) == [0.0, 0.0] and (ce[2:] > 0).all()
    assert (con > 0).all()


def test_pooled_feature_hook_uses_forward_hooks_only():
    """The hook adds ``pooled_feat`` (= ``head.pre_logits``) to what
    ``val_step`` returns without replacing any method, and leaves no hook
    behind after the epoch."""
    from types import SimpleNamespace

    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    from coretune_mm import PooledFeatureHook
    cfg = small_run_cfg(CORE_CFG, '/tmp/unused')
    init_default_scope('mmpretrain')
    cfg.model.backbone.pop('init_cfg')
    model = MODELS.build(cfg.model).eval()

    def batch():  # fresh samples: predict writes into the given ones
        g = torch.Generator().manual_seed(0)
        return dict(
            inputs=[
                torch.randint(
                    0, 255, (3, 32, 32), dtype=torch.uint8, generator=g)
                for _ in range(3)
            ],
            data_samples=[DataSample().set_gt_label(i) for i in range(3)])

    data = batch()
    hook = PooledFeatureHook()
    runner = SimpleNamespace(model=model)
    hook.before_val_epoch(runner)
    assert 'predict' not in vars(model.head)  # nothing monkeypatched
    with torch.no_grad():
        out = model.val_step(data)
        inputs = model.data_preprocessor(data, False)['inputs']
        expected = model.head.pre_logits(model.extract_feat(inputs))
    torch.testing.assert_close(
        torch.stack([s.pooled_feat for s in out]), expected)
    hook.after_val_epoch(runner)
    assert not model.head._forward_hooks and not model._forward_hooks
    with torch.no_grad():
        assert 'pooled_feat' not in model.val_step(batch())[0]


def test_train_and_test_tools_take_the_openmmlab_flags(tmp_path):
    """tools/train.py with mmpretrain's --no-validate, --auto-scale-lr,
    --no-pin-memory, --no-persistent-workers; tools/test.py with
    --show-dir and --tta (mmpretrain's flip TTA)."""
    import glob

    from conftest import load_tool
    data = [
        f'{k}.dataset.data_root={require_data(CIFAR_ROOT)}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]
    common = data + [
        f'model.backbone.init_cfg.checkpoint={require_data(MOCO_CKPT)}',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'test_dataloader.dataset.indices=[0,500,1000,1500]'
    ]
    work_dir = str(tmp_path / 'run')
    train = load_tool('train.py')
    with pytest.raises(ValueError, match='base_batch_size'):
        train.build_config(
            train.parse_args(
                [CORE_CFG, '--auto-scale-lr', '--cfg-options', *common]))
    cfg = train.build_config(
        train.parse_args([
            CORE_CFG, '--work-dir', work_dir, '--no-validate',
            '--auto-scale-lr', '--no-pin-memory', '--no-persistent-workers',
            '--cfg-options', *common, 'auto_scale_lr.base_batch_size=16'
        ]))
    assert cfg.val_cfg is None and cfg.auto_scale_lr.enable
    assert cfg.train_dataloader.pin_memory is False
    assert cfg.train_dataloader.persistent_workers is False
    runner = Runner.from_cfg(cfg)
    runner.train()
    # batch 32 over the base 16: lr doubled; no validation ran
    assert runner.optim_wrapper.param_groups[0]['initial_lr'] == \
        pytest.approx(2 * Config.fromfile(CORE_CFG).optim_wrapper.optimizer.lr)
    assert runner.train_loop.iter == 2
    assert not any(
        k.startswith('val/') for k in runner.message_hub.log_scalars)
    ckpt = osp.join(work_dir, 'iter_2.pth')
    test = load_tool('test.py')
    # mmpretrain's semantics: every sample drawn (--interval 1), --out the
    # predictions; a relative --show-dir goes under the run folder
    preds = str(tmp_path / 'preds.pkl')
    metrics = test.main([
        CORE_CFG, ckpt, '--work-dir', work_dir, '--show-dir', 'shown', '--out',
        preds, '--amp', '--no-pin-memory', '--cfg-options', *common
    ])
    assert 'scatter/ratio' in metrics
    drawn = glob.glob(osp.join(work_dir, 'shown', '*.png'))
    # mmpretrain names a drawing by its image's file name: one per name
    from mmpretrain.registry import DATASETS
    test_cfg = Config.fromfile(CORE_CFG)
    test_cfg.merge_from_dict(
        {'test_dataloader.dataset.data_root': require_data(CIFAR_ROOT)})
    test_cfg.test_dataloader.dataset.indices = [0, 500, 1000, 1500]
    dataset = DATASETS.build(test_cfg.test_dataloader.dataset)
    names = {
        osp.basename(dataset.get_data_info(i)['img_path'])
        for i in range(len(dataset))
    }
    assert len(names) >= 2  # the old default interval (5000) drew one
    assert sorted(osp.basename(p)[:-len('_0.png')] for p in drawn) == \
        sorted(names), drawn
    import pickle
    with open(preds, 'rb') as f:
        dumped = pickle.load(f)
    assert len(dumped) == 4 and 'pred_score' in dumped[0]
    out = str(tmp_path / 'metrics.json')
    test.main([
        CORE_CFG, ckpt, '--work-dir', work_dir, '--out', out, '--out-item',
        'metrics', '--cfg-options', *common
    ])
    import json
    with open(out) as f:
        assert 'accuracy/top1' in json.load(f)
    with pytest.raises(ValueError, match='needs --out'):
        test.main([CORE_CFG, ckpt, '--out-item', 'pred'])
    with pytest.raises(ValueError, match='.pkl'):
        test.main([CORE_CFG, ckpt, '--out', str(tmp_path / 'x.json')])
    with pytest.warns(UserWarning, match='FeatureScatter'):
        metrics = test.main([
            CORE_CFG, ckpt, '--work-dir', work_dir, '--tta', '--cfg-options',
            *common
        ])
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    assert 'scatter/ratio' not in metrics


def test_logged_loss_con_is_eta_times_logged_con_unscaled(tmp_path):
    """The log shows loss_con and con_unscaled with the same smoothing
    (mmengine averages "loss" keys over its window and logged other keys'
    current value): loss_con = eta x con_unscaled in the logged figures."""
    from conftest import load_tool
    train = load_tool('train.py')
    cfg = train.build_config(
        train.parse_args([
            CORE_CFG, '--work-dir',
            str(tmp_path), '--no-validate', '--cfg-options',
            f'train_dataloader.dataset.data_root={require_data(CIFAR_ROOT)}',
            f'model.backbone.init_cfg.checkpoint={require_data(MOCO_CKPT)}',
            'train_cfg.max_iters=4', 'param_scheduler.T_max=4'
        ]))
    eta = cfg.model.head.core_loss.eta
    runner = Runner.from_cfg(cfg)
    runner.train()
    tag, _ = runner.log_processor.get_log_after_iter(runner, 3, 'train')
    history = runner.message_hub.log_scalars['train/con_unscaled']
    assert len(set(history.data[0].tolist())) > 1  # it moved: a real check
    assert tag['loss_con'] == pytest.approx(
        eta * tag['con_unscaled'], rel=1e-5)


def test_a_backbone_checkpoint_that_does_not_fit_is_refused(tmp_path):
    """tools/train.py refuses, before training, a backbone init_cfg
    checkpoint of another width (mmengine alone warns "size mismatch" and
    trains from random weights), also as mmpretrain://NAME; the matching
    checkpoint passes."""
    from conftest import load_tool

    from coretune_mm.utils import check_backbone_init, csl_checkpoint_url
    train = load_tool('train.py')
    data = f'train_dataloader.dataset.data_root={require_data(CIFAR_ROOT)}'
    args = [CORE_CFG, '--work-dir', str(tmp_path), '--cfg-options', data]
    cfg = train.build_config(
        train.parse_args(args +
                         [f'model.backbone.init_cfg.checkpoint={MOCO_CKPT}']))
    assert check_backbone_init(cfg) == [MOCO_CKPT]
    wide = args + [
        f'model.backbone.init_cfg.checkpoint={MOCO_CKPT}',
        'model.backbone.base_channels=32', 'model.backbone.stem_channels=32',
        'model.head.in_channels=256'
    ]
    with pytest.raises(ValueError, match='does not fit the backbone') as err:
        train.main(wide)
    assert 'shape mismatches' in str(err.value)
    assert 'convert_csl_checkpoint.py' in str(err.value)
    assert not osp.exists(osp.join(str(tmp_path), 'iter_1.pth'))
    # the same through the plugin's mmpretrain:// names (a ResNet-50 in the
    # torch hub cache, where mmengine keeps its download)
    name = 'mocov2_resnet50_8xb32-coslr-200e_in1k'
    hub = tmp_path / 'hub'
    (hub / 'checkpoints').mkdir(parents=True)
    from mmpretrain.models import ResNet
    torch.save(
        dict(state_dict={
            'backbone.' + k: v
            for k, v in ResNet(depth=50).state_dict().items()
        }), hub / 'checkpoints' / osp.basename(csl_checkpoint_url(name)))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    try:
        with pytest.raises(ValueError, match='does not fit the backbone'):
            train.main(
                args +
                [f'model.backbone.init_cfg.checkpoint=mmpretrain://{name}'])
    finally:
        torch.hub.set_dir(old)
