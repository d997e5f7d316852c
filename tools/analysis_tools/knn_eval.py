"""kNN top-1 of a checkpoint's backbone: how good a contrastive model is,
without training anything.

Pooled backbone features (global average pooling of the last stage,
L2-normalised) of a labelled train split vote for each image of a test
split: its ``k`` (default 20) nearest train images by cosine similarity,
each with one vote (``majority``) or with weight ``exp(sim / T)``
(``weighted``, T = 0.07, as in InstDisc / MoCo). Both are printed.

The backbone and the data pipeline come from an mmpretrain config (its
``model.backbone``, its test pipeline and ``data_preprocessor``); the
weights from any checkpoint ``tools/convert_csl_checkpoint.py`` reads (a full
MoCo/SimCLR/... checkpoint, an mmengine one, a converted backbone), through
the same conversion. No augmentation: both splits go through the test
pipeline.

    python tools/analysis_tools/knn_eval.py CONFIG CHECKPOINT \\
        --data-root ../shared/data/cifar10-jpg   # train/ and test/ folders
    python tools/analysis_tools/knn_eval.py CONFIG random \\
        --data-root ../shared/data/cifar10-jpg   # untrained (seed 0)
    python tools/analysis_tools/knn_eval.py CONFIG WORK_DIR/epoch_*.pth \\
        --data-root DATA --out knn_curve.json    # one line per checkpoint
"""
import argparse
import copy
import json
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def knn_predict(train_feats,
                train_labels,
                test_feats,
                k=20,
                temperature=0.07,
                num_classes=None,
                chunk=1024):
    """(majority, weighted) predicted labels of ``test_feats`` (N, D) from
    their ``k`` nearest ``train_feats`` (M, D) by cosine similarity."""
    train_feats = F.normalize(train_feats.float(), dim=1)
    test_feats = F.normalize(test_feats.float(), dim=1)
    if num_classes is None:
        num_classes = int(train_labels.max()) + 1
    k = min(k, train_feats.shape[0])
    majority, weighted = [], []
    for start in range(0, test_feats.shape[0], chunk):
        sim = test_feats[start:start + chunk] @ train_feats.t()
        top_sim, top_idx = sim.topk(k, dim=1)
        votes = F.one_hot(train_labels[top_idx], num_classes).float()
        majority.append(votes.sum(dim=1).argmax(dim=1))
        weights = (top_sim / temperature).exp().unsqueeze(2)
        weighted.append((votes * weights).sum(dim=1).argmax(dim=1))
    return torch.cat(majority), torch.cat(weighted)


def build_backbone(cfg, checkpoint, unsafe_load=False):
    """The config's backbone with the checkpoint's weights (converted as
    tools/convert_csl_checkpoint.py does); ``'random'``: initialised."""
    from mmengine.registry import MODELS, init_default_scope

    from coretune_mm.utils import load_checkpoint_file, load_tool
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    backbone_cfg.pop('init_cfg', None)
    backbone_cfg.pop('pretrained', None)
    from mmengine.model import revert_sync_batchnorm
    backbone = revert_sync_batchnorm(MODELS.build(backbone_cfg))
    if checkpoint == 'random':
        with torch.random.fork_rng(devices=[]):
            # the same untrained network every time: the CPU generator
            # alone is seeded (and restored after); no CUDA generator is
            torch.default_generator.manual_seed(0)
            backbone.init_weights()
        return backbone, 'random init (seed 0)'
    convert = load_tool('convert_csl_checkpoint.py')
    target = {k: tuple(v.shape) for k, v in backbone.state_dict().items()}
    ckpt = load_checkpoint_file(checkpoint, unsafe=unsafe_load)
    state, renaming = convert.find_state_dict(ckpt)
    weights, report = convert.convert(state, target, ckpt, renaming)
    backbone.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in weights.items()
        }, strict=True)
    return backbone, f"prefix {report['prefix']!r} ({report['layout']})"


def split_loader(cfg, data_root, split, batch_size):
    """A data loader of ``split`` (a folder of ``data_root``, or the config's
    own dataset when ``data_root`` is None) through the test pipeline."""
    from mmengine.runner import Runner
    if cfg.get('test_dataloader'):
        test = copy.deepcopy(cfg.test_dataloader)
    elif data_root is not None:  # e.g. a self-supervised pretraining config
        test = dict(
            dataset=dict(pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='PackInputs')
            ]))
        test = type(cfg)(test)
    else:
        raise ValueError(f'{cfg.filename} has no test_dataloader: pass '
                         '--data-root')
    if data_root is not None:
        test.dataset.update(
            type='CustomDataset', data_root=data_root, data_prefix=split)
        test.dataset.pop('indices', None)
        test.dataset.pop('ann_file', None)
    elif split == 'train':
        pipeline = test.dataset.pipeline
        test.dataset = copy.deepcopy(cfg.train_dataloader.dataset)
        test.dataset.pipeline = pipeline
    test.update(batch_size=batch_size, num_workers=0)
    test.pop('persistent_workers', None)
    test.sampler = dict(type='DefaultSampler', shuffle=False)
    return Runner.build_dataloader(test, seed=0)


@torch.no_grad()
def extract(backbone, preprocessor, loader):
    feats, labels = [], []
    for batch in loader:
        data = preprocessor(batch, False)
        out = backbone(data['inputs'])[-1]
        feats.append(out.mean(dim=(2, 3)) if out.dim() == 4 else out)
        labels.append(
            torch.cat([s.gt_label.reshape(-1) for s in data['data_samples']]))
    return torch.cat(feats), torch.cat(labels)


def evaluate(config,
             checkpoint,
             data_root=None,
             k=20,
             temperature=0.07,
             batch_size=256,
             unsafe_load=False):
    """``dict(majority=top-1 %, weighted=top-1 %, ...)``."""
    from mmengine.config import Config
    from mmengine.registry import MODELS
    cfg = Config.fromfile(config)
    backbone, source = build_backbone(cfg, checkpoint, unsafe_load)
    backbone.eval()
    # the normalisation of the config (a SelfSupDataPreprocessor's too)
    pre_cfg = copy.deepcopy(
        cfg.get('data_preprocessor') or cfg.model.get('data_preprocessor')
        or {})
    pre_cfg = dict(
        type='mmpretrain.ClsDataPreprocessor',
        **{k: pre_cfg[k]
           for k in ('mean', 'std', 'to_rgb') if k in pre_cfg})
    preprocessor = MODELS.build(pre_cfg)
    train_x, train_y = extract(
        backbone, preprocessor,
        split_loader(cfg, data_root, 'train', batch_size))
    test_x, test_y = extract(backbone, preprocessor,
                             split_loader(cfg, data_root, 'test', batch_size))
    majority, weighted = knn_predict(
        train_x,
        train_y,
        test_x,
        k=k,
        temperature=temperature,
        num_classes=int(max(train_y.max(), test_y.max())) + 1)
    return dict(
        majority=100.0 * float((majority == test_y).float().mean()),
        weighted=100.0 * float((weighted == test_y).float().mean()),
        k=k,
        temperature=temperature,
        train_images=len(train_y),
        test_images=len(test_y),
        weights=source)


def main(argv=None):
    from coretune_mm.utils.safe_load import add_unsafe_load_flag
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.split('\n\n')[0].split()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        'config',
        help='an mmpretrain config (its backbone, '
        'test pipeline and data_preprocessor)')
    parser.add_argument(
        'checkpoint',
        nargs='+',
        help="any checkpoint the converter reads, or 'random' for an "
        'untrained backbone; several (e.g. a pretraining run\'s '
        'epoch_*.pth) give a kNN-vs-checkpoint curve')
    parser.add_argument(
        '--data-root',
        help='folder with train/ and test/ in the folder-per-class layout '
        "(default: the config's train and test datasets)")
    parser.add_argument(
        '--k',
        type=int,
        default=20,
        help='nearest train images that vote for each test image')
    parser.add_argument(
        '--temperature',
        type=float,
        default=0.07,
        help='T of the weighted vote: each neighbour weighs exp(sim / T)')
    parser.add_argument(
        '--batch-size', type=int, default=256, help='images per forward pass')
    add_unsafe_load_flag(parser, 'the checkpoints')
    parser.add_argument(
        '--out',
        help='write the result as JSON here (a list with several '
        'checkpoints)')
    args = parser.parse_args(argv)
    results = []
    for checkpoint in args.checkpoint:
        result = evaluate(args.config, checkpoint, args.data_root, args.k,
                          args.temperature, args.batch_size, args.unsafe_load)
        result['checkpoint'] = checkpoint
        print(f'{checkpoint}: kNN (k={args.k}, cosine) on '
              f'{result["test_images"]} test images from '
              f'{result["train_images"]} train images, weights: '
              f'{result["weights"]}')
        print(f'top-1 majority vote: {result["majority"]:.2f} %')
        print(f'top-1 weighted vote (T={args.temperature}): '
              f'{result["weighted"]:.2f} %')
        results.append(result)
    out = results[0] if len(results) == 1 else results
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == '__main__':
    main()
