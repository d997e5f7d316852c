"""t-SNE of the backbone's pooled features, models side by side (PNG).

    python tools/visualize_features.py \\
        --model CE-tuning CE_CONFIG CE_CKPT \\
        --model Core-tuning CORE_CONFIG CORE_CKPT \\
        --out work_dirs/tsne.png [--max-samples 1000]

Each model's validation set is read through its config's ``val_dataloader``;
the title of each panel gives the model's top-1 on that set (or says that
the checkpoint has no trained classifier, e.g. a raw CSL checkpoint) and the
feature-scatter ratio (intra/inter, lower is tighter) of the same features,
and the legend names the classes (the dataset's ``metainfo``).

mmpretrain ships a t-SNE tool (``tools/visualization/vis_tsne.py`` in its
repository and wheel); it embeds one model per run and writes one picture
per stage, without accuracy or scatter. This tool follows it -- features
from ``model.extract_feat``, scikit-learn's ``TSNE``, a class legend -- and
adds what a CE-vs-Core comparison needs: several models in one figure, each
with its metrics.
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def classifier_in_checkpoint(model, ckpt, path):
    """Whether the checkpoint holds the model's classifier (``head.fc.*``):
    a raw CSL checkpoint has a backbone but no trained classifier, and a
    top-1 of its randomly initialised head means nothing. A checkpoint
    without the backbone is refused (its features would be random)."""
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    keys = {
        k[len('module.'):] if k.startswith('module.') else k
        for k in state
    }
    expected = list(model.state_dict())
    backbone = [k for k in expected if k.startswith('backbone.')]
    missing = [k for k in backbone if k not in keys]
    if missing:
        raise ValueError(
            f'{path} lacks {len(missing)} of the {len(backbone)} backbone '
            f'tensors of this config (e.g. {missing[0]}): not a checkpoint of '
            'this model')
    head = [k for k in expected if k.startswith('head.fc.')]
    return bool(head) and all(k in keys for k in head)


def panel_title(name, top1, ratio):
    """A panel's title: the model, its top-1 (or that its classifier is
    untrained) and the feature-scatter ratio."""
    acc = ('classifier untrained (not in the checkpoint)'
           if top1 is None else f'top-1 {top1:.2f} %')
    return f'{name}\n{acc}, scatter ratio {ratio:.3f}'


def extract(config, checkpoint, max_samples, cfg_options=None):
    """Pooled backbone features (``max_samples`` evenly spaced ones of the
    whole val set), their labels, the model's top-1 on the whole val set
    (%; ``None`` when the checkpoint has no trained classifier), and the
    class names."""
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner, load_checkpoint

    from coretune_mm.utils import build_model_without_checkpoints
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = build_model_without_checkpoints(cfg)
    ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
    model.eval()
    trained = classifier_in_checkpoint(model, ckpt, checkpoint)
    loader_cfg = cfg.val_dataloader.copy()
    loader_cfg.update(num_workers=0)
    loader_cfg.pop('persistent_workers', None)
    loader = Runner.build_dataloader(loader_cfg)
    feats, labels, correct = [], [], 0
    with torch.no_grad():
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            out = model.extract_feat(data['inputs'])
            target = torch.tensor(
                [int(s.gt_label[0]) for s in data['data_samples']])
            if trained:
                correct += int((model.head(out).argmax(1) == target).sum())
            feats.append(out[-1])
            labels.append(target)
    feats, labels = torch.cat(feats), torch.cat(labels)
    top1 = 100.0 * correct / len(labels) if trained else None
    classes = loader.dataset.metainfo.get('classes') or [
        str(c) for c in range(int(labels.max()) + 1)
    ]
    # evenly spaced samples: datasets are often sorted by class
    keep = torch.linspace(0,
                          len(labels) - 1, min(max_samples,
                                               len(labels))).long()
    return feats[keep], labels[keep], top1, list(classes)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument(
        '--model',
        nargs=3,
        action='append',
        required=True,
        metavar=('NAME', 'CONFIG', 'CHECKPOINT'))
    parser.add_argument('--out', required=True, help='PNG path')
    parser.add_argument('--max-samples', type=int, default=1000)
    parser.add_argument('--data-root', help='override the val data_root')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    from coretune_mm.core import feature_scatter
    options = ({
        'val_dataloader.dataset.data_root': args.data_root
    } if args.data_root else None)
    fig, axes = plt.subplots(
        1, len(args.model), figsize=(5 * len(args.model), 5), squeeze=False)
    ratios = {}
    for ax, (name, config, ckpt) in zip(axes[0], args.model):
        feats, labels, top1, classes = extract(config, ckpt, args.max_samples,
                                               options)
        ratio = feature_scatter(feats, labels)['ratio']
        ratios[name] = ratio
        emb = TSNE(
            n_components=2, init='pca', random_state=args.seed,
            perplexity=30).fit_transform(feats.numpy())
        points = ax.scatter(
            emb[:, 0], emb[:, 1], c=labels.numpy(), cmap='tab10', s=4)
        present = sorted(set(labels.tolist()))
        handles, _ = points.legend_elements(num=present)
        ax.legend(
            handles, [classes[c] for c in present],
            fontsize=7,
            markerscale=0.8,
            loc='best',
            title='class')
        ax.set_title(panel_title(name, top1, ratio))
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f'wrote {args.out}; scatter ratios: ' +
          ', '.join(f'{k} {v:.3f}' for k, v in ratios.items()))
    return ratios


if __name__ == '__main__':
    main()
