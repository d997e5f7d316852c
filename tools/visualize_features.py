"""t-SNE of the backbone's pooled features, models side by side (PNG).

    python tools/visualize_features.py \\
        --model CE-tuning CE_CONFIG CE_CKPT \\
        --model Core-tuning CORE_CONFIG CORE_CKPT \\
        --out work_dirs/tsne.png [--max-samples 1000]

Each model's validation set is read through its config's ``val_dataloader``;
the title of each panel gives the feature-scatter ratio (intra/inter, lower
is tighter) of the same features.
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def extract(config, checkpoint, max_samples, cfg_options=None):
    """(features, labels) of the pooled backbone features: the whole val
    set is read, ``max_samples`` evenly spaced ones are kept."""
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner, load_checkpoint

    from coretune_mm.utils import build_model_without_checkpoints
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = build_model_without_checkpoints(cfg)
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.eval()
    loader_cfg = cfg.val_dataloader.copy()
    loader_cfg.update(num_workers=0)
    loader_cfg.pop('persistent_workers', None)
    loader = Runner.build_dataloader(loader_cfg)
    feats, labels = [], []
    with torch.no_grad():
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            feats.append(model.extract_feat(data['inputs'])[-1])
            labels += [int(s.gt_label[0]) for s in data['data_samples']]
    feats, labels = torch.cat(feats), torch.tensor(labels)
    # evenly spaced samples: datasets are often sorted by class
    keep = torch.linspace(0, len(labels) - 1,
                          min(max_samples, len(labels))).long()
    return feats[keep], labels[keep]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', nargs=3, action='append', required=True,
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
    options = ({'val_dataloader.dataset.data_root': args.data_root}
               if args.data_root else None)
    fig, axes = plt.subplots(
        1, len(args.model), figsize=(5 * len(args.model), 5), squeeze=False)
    ratios = {}
    for ax, (name, config, ckpt) in zip(axes[0], args.model):
        feats, labels = extract(config, ckpt, args.max_samples, options)
        ratio = feature_scatter(feats, labels)['ratio']
        ratios[name] = ratio
        emb = TSNE(n_components=2, init='pca', random_state=args.seed,
                   perplexity=30).fit_transform(feats.numpy())
        ax.scatter(emb[:, 0], emb[:, 1], c=labels.numpy(), cmap='tab10',
                   s=4)
        ax.set_title(f'{name}\nscatter ratio {ratio:.3f}')
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f'wrote {args.out}; scatter ratios: ' +
          ', '.join(f'{k} {v:.3f}' for k, v in ratios.items()))
    return ratios


if __name__ == '__main__':
    main()
