"""tools/visualize_features.py on real checkpoints: a fine-tuned model's
panel gives its top-1; a raw CSL checkpoint (a backbone without a trained
classifier) says so instead of a random head's top-1."""
import os.path as osp

import pytest
import torch
from conftest import CIFAR_ROOT, CONFIG_DIR, require_data

from coretune_mm.utils import load_tool

VIS = load_tool('visualize_features.py')
CFG = osp.join(CONFIG_DIR, 'cpu',
               'coretune_resnet18w16-mocov2_1xb32-20i_cifar10-32.py')


def options():
    return {
        'val_dataloader.dataset.data_root': require_data(CIFAR_ROOT),
        'val_dataloader.dataset.indices': list(range(0, 2000, 100))
    }


def test_raw_csl_checkpoint_has_no_top1(moco_ckpt, tmp_path):
    feats, labels, top1, classes = VIS.extract(CFG, moco_ckpt, 20, options())
    assert top1 is None and feats.shape[0] == labels.shape[0] == 20
    title = VIS.panel_title('MoCo', top1, 0.5)
    assert 'classifier untrained' in title and 'top-1' not in title


def test_trained_model_has_its_top1_and_a_foreign_checkpoint_is_refused(
        moco_ckpt, tmp_path):
    from mmengine.config import Config

    from coretune_mm.utils import build_model_without_checkpoints
    model = build_model_without_checkpoints(Config.fromfile(CFG))
    model.init_weights()
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    _, _, top1, _ = VIS.extract(CFG, str(ckpt), 20, options())
    assert 0.0 <= top1 <= 100.0
    assert VIS.panel_title('Core', top1, 0.5).startswith('Core\ntop-1 ')
    head_only = tmp_path / 'head.pth'
    torch.save(
        dict(state_dict={
            k: v
            for k, v in model.state_dict().items() if k.startswith('head.')
        }), head_only)
    with pytest.raises(ValueError, match='backbone tensors'):
        VIS.extract(CFG, str(head_only), 20, options())
