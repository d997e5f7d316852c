import copy

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from mmseg.registry import MODELS as SEG_MODELS

import coretune_mm  # noqa: F401
from coretune_mm import CoreContrastiveClsHead, CoreLoss, HardMixup

DEFAULT_ARGS = dict(
    type='CoreContrastiveClsHead',
    num_classes=4,
    in_channels=16,
    proj_channels=8,
    mixup=dict(type='HardMixup', seed=0),
    core_loss=dict(type='CoreLoss', eta=0.1))


def samples(labels):
    return [DataSample().set_gt_label(int(c)) for c in labels]


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmpretrain')


def test_components_registered_in_both_registries():
    for registry in (MODELS, SEG_MODELS):
        assert registry.get('HardMixup') is HardMixup
        assert registry.get('CoreLoss') is CoreLoss
    assert MODELS.get('CoreContrastiveClsHead') is CoreContrastiveClsHead
    assert isinstance(SEG_MODELS.build(dict(type='CoreLoss')), CoreLoss)


def test_loss_keys_and_gradients():
    head = MODELS.build(DEFAULT_ARGS)
    feats = torch.randn(8, 16, requires_grad=True)
    losses = head.loss((feats, ), samples([0, 1, 2, 3, 0, 1, 2, 3]))
    assert set(losses) == {'loss_ce_mix', 'loss_con', 'con_unscaled'}
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_con'] > 0
    sum(losses.values()).backward()
    assert feats.grad.abs().sum() > 0
    assert head.projector.fc1.weight.grad.abs().sum() > 0
    assert head.fc.weight.grad.abs().sum() > 0


def test_cal_acc_reads_clean_rows():
    cfg = dict(DEFAULT_ARGS, cal_acc=True)
    head = MODELS.build(cfg)
    feats = torch.randn(6, 16)
    with torch.no_grad():  # every top logit negative: still counted
        head.fc.bias.fill_(-100.0)
    labels = head((feats, )).argmax(1).tolist()
    labels[0] = (labels[0] + 1) % 4  # 5 of 6 right
    losses = head.loss((feats, ), samples(labels))
    assert set(losses) == {
        'loss_ce_mix', 'loss_con', 'con_unscaled', 'accuracy_top-1'
    }
    assert losses['accuracy_top-1'].item() == pytest.approx(500 / 6)


def test_soft_gt_score_from_mmpretrain_mixup():
    np.random.seed(0)  # mmpretrain's Mixup draws lambda with numpy
    torch.manual_seed(0)
    preprocessor = MODELS.build(
        dict(
            type='ClsDataPreprocessor',
            num_classes=4,
            batch_augments=dict(augments=dict(type='Mixup', alpha=1.0))))
    data = dict(
        inputs=[torch.zeros(3, 4, 4, dtype=torch.uint8) for _ in range(6)],
        data_samples=samples([0, 1, 2, 3, 0, 1]))
    data_samples = preprocessor(data, training=True)['data_samples']
    scores = torch.stack([s.gt_score for s in data_samples])
    assert (scores.max(dim=1).values < 1).any()  # really mixed
    head = MODELS.build(DEFAULT_ARGS)
    losses = head.loss((torch.randn(6, 16), ), data_samples)
    assert set(losses) == {'loss_ce_mix', 'loss_con', 'con_unscaled'}
    assert all(torch.isfinite(v) for v in losses.values())


def test_predict_is_plain_linear_classifier():
    head = MODELS.build(DEFAULT_ARGS)
    head.eval()
    feats = torch.randn(5, 16)
    out = head.predict((feats, ))
    expected = torch.softmax(head.fc(feats), dim=1)
    got = torch.stack([s.pred_score for s in out])
    torch.testing.assert_close(got, expected)


def test_one_class_batch_and_batch_of_one():
    head = MODELS.build(DEFAULT_ARGS)
    losses = head.loss((torch.randn(4, 16), ), samples([2, 2, 2, 2]))
    assert set(losses) == {'loss_ce_mix', 'loss_con', 'con_unscaled'}
    assert all(torch.isfinite(v) for v in losses.values())
    losses = head.loss((torch.randn(1, 16), ), samples([3]))
    assert set(losses) == {'loss_ce_mix', 'loss_con', 'con_unscaled'}
    assert all(torch.isfinite(v) for v in losses.values())


def test_bad_inputs():
    head = MODELS.build(DEFAULT_ARGS)
    # the real cause alone (not the targets' sums), with the labels seen
    with pytest.raises(
            ValueError,
            match=r'^label values must lie in \[0, 3\] for '
            r'num_classes=4; saw labels from 0 to 7$'):
        head.loss((torch.randn(3, 16), ), samples([0, 7, 2]))
    with pytest.raises(ValueError, match=r'label values must lie in \[0, 3\]'):
        head.loss((torch.randn(2, 16), ), samples([0, 4]))
    with pytest.raises(ValueError, match='needs an \\(N, in_channels=16\\)'):
        head.loss((torch.randn(2, 16, 3, 3), ), samples([0, 1]))
    with pytest.raises(ValueError, match='NaN or inf'):
        head.loss((torch.full((2, 16), float('inf')), ), samples([0, 1]))
    data_samples = samples([0, 1])
    for s in data_samples:
        s.set_gt_score(torch.ones(5) / 5)
    with pytest.raises(ValueError, match='gt_score has 5 classes'):
        head.loss((torch.randn(2, 16), ), data_samples)


def test_bad_configs_are_refused_at_build():
    """Accepted at build before and failing at step 1 or silently: a
    non-CoreLoss core_loss, a 0-dim projector, a near-zero temperature,
    mixup=None -- each refused when the head is built, with the cause."""
    for extra, error, said in (
        (dict(core_loss=dict(type='CrossEntropyLoss')), TypeError,
         'must build a CoreLoss, got CrossEntropyLoss'),
        (dict(proj_channels=0), ValueError,
         'proj_channels must be a positive integer, got 0'),
        (dict(proj_hidden_channels=-3), ValueError,
         'proj_hidden_channels must be a positive integer'),
        (dict(core_loss=dict(type='CoreLoss', temperature=1e-8)), ValueError,
         'temperature=1e-08 is below 0.01'),
        (dict(mixup=None), ValueError, 'mixup=None is not allowed'),
        (dict(mixup=dict(type='CoreLoss')), TypeError,
         'mixup must build a HardMixup'),
    ):
        with pytest.raises(error, match=said):
            MODELS.build(dict(DEFAULT_ARGS, **extra))


def classifier_cfg(backbone, neck, in_channels):
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=neck,
        head=dict(copy.deepcopy(DEFAULT_ARGS), in_channels=in_channels),
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            num_classes=4,
            mean=[0.0] * 3,
            std=[1.0] * 3))


@pytest.mark.parametrize(
    'backbone,neck,dim',
    [(dict(type='ResNet_CIFAR', depth=18, base_channels=8,
           stem_channels=8), dict(type='GlobalAveragePooling'), 64),
     (dict(
         type='VisionTransformer',
         arch=dict(
             embed_dims=32, num_layers=2, num_heads=2,
             feedforward_channels=64),
         img_size=32,
         patch_size=8,
         out_type='cls_token'), None, 32)],
    ids=['resnet-gap', 'vit'])
def test_full_classifier_train_step(backbone, neck, dim):
    model = MODELS.build(classifier_cfg(backbone, neck, dim))
    model.init_weights()
    data = dict(
        inputs=[
            torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)
            for _ in range(8)
        ],
        data_samples=samples([0, 1, 2, 3, 0, 1, 2, 3]))
    model.train()
    processed = model.data_preprocessor(data, True)
    losses = model(**processed, mode='loss')
    assert set(losses) == {'loss_ce_mix', 'loss_con', 'con_unscaled'}
    sum(losses.values()).backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0
    model.eval()
    with torch.no_grad():
        processed = model.data_preprocessor(data, False)
        preds = model(**processed, mode='predict')
        feats = model.extract_feat(processed['inputs'])
    assert len(preds) == 8
    torch.testing.assert_close(
        torch.stack([p.pred_score for p in preds]),
        torch.softmax(model.head.fc(feats[-1]), dim=1))


def test_core_loss_key_and_deprecated_loss_name():
    """Both heads configure the loss as core_loss; the old cls name `loss`
    still builds the same head, with a DeprecationWarning."""
    init_default_scope('mmpretrain')
    cfg = dict(DEFAULT_ARGS)
    new = MODELS.build(cfg)
    assert new.core_loss is new.loss_module and new.core_loss.eta == 0.1
    old_cfg = dict(cfg)
    old_cfg['loss'] = old_cfg.pop('core_loss')
    with pytest.warns(DeprecationWarning, match='core_loss'):
        old = MODELS.build(old_cfg)
    assert old.core_loss.eta == 0.1
    assert set(old.state_dict()) == set(new.state_dict())
    with pytest.raises(ValueError, match='both core_loss and'):
        MODELS.build(dict(old_cfg, core_loss=dict(type='CoreLoss')))


def test_head_loss_is_the_shared_core_step():
    """The head's losses are core_tuning_step's on the pooled features."""
    from coretune_mm.core import core_tuning_step
    init_default_scope('mmpretrain')
    head = MODELS.build(
        dict(DEFAULT_ARGS, mixup=dict(type='HardMixup', seed=4)))
    feats = torch.randn(8, 16)
    data = samples([0, 1, 2, 3, 0, 1, 2, 3])
    got = head.loss((feats, ), data)
    ref_head = MODELS.build(
        dict(DEFAULT_ARGS, mixup=dict(type='HardMixup', seed=4)))
    ref_head.load_state_dict(head.state_dict())
    targets = head.get_targets(data, feats.device)
    want, logits = core_tuning_step(feats, targets, ref_head.mixup,
                                    ref_head.fc, ref_head.projector,
                                    ref_head.core_loss)
    assert logits.shape == (24, 4)
    for k in ('loss_ce_mix', 'loss_con'):
        torch.testing.assert_close(got[k], want[k])


def cutmix_batch(n=128, num_classes=10, seed=0):
    """A real batch through mmpretrain's ClsDataPreprocessor with its own
    CutMix batch augment: every target row becomes soft (gt_score)."""
    from mmpretrain.models import ClsDataPreprocessor
    torch.manual_seed(seed)
    np.random.seed(seed)
    pre = ClsDataPreprocessor(
        num_classes=num_classes,
        batch_augments=dict(augments=[dict(type='CutMix', alpha=1.0)]))
    labels = torch.arange(n) % num_classes
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
            for _ in range(n)
        ],
        data_samples=samples(labels))
    return pre(data, training=True)['data_samples']


def clean_rows_with_a_positive(num_classes, positives):
    from coretune_mm.core.losses import positive_keys, positive_mask
    head = MODELS.build(
        dict(
            DEFAULT_ARGS,
            num_classes=num_classes,
            core_loss=dict(type='CoreLoss', positives=positives)))
    data = cutmix_batch(num_classes=num_classes)
    assert 'gt_score' in data[0]
    targets = head.get_targets(data, torch.device('cpu'))
    assert ((targets > 0).sum(1) > 1).float().mean() > 0.5  # soft rows
    rows, row_targets = head.mixup(torch.randn(128, 16), targets)
    # the mask the focal loss itself uses
    has_positive = positive_mask(positive_keys(row_targets, positives,
                                               128)).any(dim=1)
    losses = head.loss((torch.randn(128, 16), ), data)
    return float(has_positive[:128].float().mean()), losses


def test_positives_under_cutmix_soft_labels():
    """mmpretrain's real CutMix, batch 128, 10 classes: the default rule
    keeps a positive for >= 90 % of the clean rows and a non-zero
    contrastive term."""
    share, losses = clean_rows_with_a_positive(10, 'argmax')
    assert share >= 0.9 and losses['loss_con'] > 0
    exact_share, _ = clean_rows_with_a_positive(10, 'exact')
    assert exact_share < share


def test_exact_positives_vanish_under_cutmix_with_many_classes():
    """The failure mode the default avoids: with 100 classes (CIFAR-100)
    exact equality of CutMix's soft targets leaves almost no positive."""
    exact_share, losses = clean_rows_with_a_positive(100, 'exact')
    assert exact_share < 0.1
    share, _ = clean_rows_with_a_positive(100, 'argmax')
    assert share > 0.4  # 128 rows, classes 0-27 twice: 56 rows can pair


def test_positive_rules_agree_on_hard_labels():
    """With hard labels 'argmax' is exactly 'exact' (the same loss)."""
    from coretune_mm.core import focal_supcon_loss
    from coretune_mm.core.losses import positive_keys
    torch.manual_seed(0)
    h, y = torch.randn(24, 16), torch.eye(4)[torch.arange(24) % 4]
    rows, row_targets = HardMixup(seed=1)(h, y)
    assert torch.equal(positive_keys(row_targets, 'argmax', 24), row_targets)
    z = torch.randn(72, 8)
    a = focal_supcon_loss(z, row_targets, positives='argmax', num_clean=24)
    b = focal_supcon_loss(z, row_targets, positives='exact')
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="positives must be one of"):
        CoreLoss(positives='soft')


def test_head_swap_on_a_stock_config_trains_or_names_the_fix(tmp_path):
    """Only ``type`` of mmpretrain's stock LinearClsHead changed (no
    ``_delete_``): the inherited plain CrossEntropyLoss is replaced by
    CoreLoss with a warning and a training step runs; an inherited loss
    that Core-tuning would drop silently (label smoothing) is refused at
    build time, naming the fix."""
    from mmengine.config import Config
    path = tmp_path / 'swap.py'
    path.write_text("_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'\n"
                    "custom_imports = dict(imports=['coretune_mm'])\n"
                    "model = dict(head=dict(type='CoreContrastiveClsHead'))\n")
    cfg = Config.fromfile(str(path))
    assert cfg.model.head.loss.type == 'CrossEntropyLoss'
    with pytest.warns(UserWarning, match='ignoring loss='):
        model = MODELS.build(cfg.model)
    assert isinstance(model.head.core_loss, CoreLoss)
    data = dict(
        inputs=torch.rand(8, 3, 32, 32) * 255,
        data_samples=samples(torch.arange(8) % 4))
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    assert {'loss_ce_mix', 'loss_con', 'con_unscaled'} <= set(losses)
    cfg.model.head.loss = dict(type='LabelSmoothLoss', label_smooth_val=0.1)
    with pytest.raises(ValueError, match='_delete_=True'):
        MODELS.build(cfg.model)


@pytest.mark.parametrize('seed', [None, 4])
def test_head_forwards_seed_no_global_generator(seed, monkeypatch):
    """A classification and a segmentation training step call no CUDA
    seeding function (and not torch.manual_seed, which seeds every CUDA
    device too), with or without a HardMixup seed; with one, the global
    CPU generator's state is what it was before the step."""
    from conftest import feature_pyramid, random_labels, seg_samples
    calls = []

    def recorder(name):

        def record(*args, **kwargs):
            calls.append(name)

        return record

    for name in ('manual_seed', 'manual_seed_all', 'seed', 'seed_all'):
        monkeypatch.setattr(torch.cuda, name, recorder(f'cuda.{name}'))
    monkeypatch.setattr(torch, 'manual_seed', recorder('torch.manual_seed'))
    monkeypatch.setattr(torch.random, 'manual_seed',
                        recorder('torch.random.manual_seed'))
    head = MODELS.build(
        dict(DEFAULT_ARGS, mixup=dict(type='HardMixup', seed=seed)))
    init_default_scope('mmseg')
    seg = SEG_MODELS.build(
        dict(
            type='CoreContrastiveSegHead',
            wrapped_type='FCNHead',
            in_channels=64,
            in_index=3,
            channels=16,
            num_classes=5,
            mixup=dict(type='HardMixup', seed=seed),
            sample_seed=seed))
    feats = torch.randn(8, 16)
    pyramid = feature_pyramid()
    labels = seg_samples(random_labels())
    state = torch.get_rng_state()
    for _ in range(2):
        head.loss((feats, ), samples([0, 1, 2, 3, 0, 1, 2, 3]))
    if seed is not None:
        assert torch.equal(torch.get_rng_state(), state)
    seg.loss(pyramid, labels, None)
    assert calls == []


def test_default_init_draws_only_the_classifier_from_normal():
    """The default ``init_cfg`` initialises ``fc`` from N(0, 0.01) (as
    mmpretrain's LinearClsHead) and leaves the projector at PyTorch's
    default nn.Linear init (official code); the earlier default, which also
    drew the projector from N(0, 0.01), is still an option."""
    cfg = dict(DEFAULT_ARGS, in_channels=128, num_classes=10)
    torch.manual_seed(0)
    head = MODELS.build(cfg)
    head.init_weights()
    assert head.fc.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert (head.fc.bias == 0).all()
    # kaiming-uniform(a=sqrt 5): U(-1/sqrt(128), 1/sqrt(128)), std ~0.051
    std = 1 / 128**0.5 / 3**0.5
    for layer in (head.projector.fc1, head.projector.fc2):
        assert layer.weight.std().item() == pytest.approx(std, rel=0.1)
        assert layer.bias.abs().max() > 0  # not zeroed
    old = MODELS.build(
        dict(cfg, init_cfg=dict(type='Normal', layer='Linear', std=0.01)))
    old.init_weights()
    for layer in (old.fc, old.projector.fc1, old.projector.fc2):
        assert layer.weight.std().item() == pytest.approx(0.01, rel=0.1)
        assert (layer.bias == 0).all()
