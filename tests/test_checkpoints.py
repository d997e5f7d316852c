"""The contrastive checkpoints committed under checkpoints/: small, loadable
weights-only, with the recipe in ``meta``, and converted by the project's
converter to the CIFAR backbone of the fine-tuning configs with no key
missing."""
import glob
import os.path as osp

import torch
from conftest import CONFIG_DIR, REPO_ROOT, load_tool
from mmengine.config import Config

CONVERT = load_tool('convert_csl_checkpoint.py')
CKPTS = sorted(glob.glob(osp.join(REPO_ROOT, 'checkpoints', '*.pth')))
# the fine-tuning backbone the CIFAR checkpoints are for
TARGET_CFG = osp.join(
    CONFIG_DIR,
    'coretune/coretune_resnet18w16-mocov2_1xb128-30e_cifar10-32.py')


def test_committed_checkpoints(tmp_path, capsys):
    assert CKPTS, 'no checkpoints/*.pth'
    readme = open(osp.join(REPO_ROOT, 'checkpoints', 'README.md')).read()
    for path in CKPTS:
        assert osp.basename(path) in readme  # documented
        assert osp.getsize(path) <= 16 * 2**20
        ckpt = torch.load(path, map_location='cpu')  # weights-only
        assert 'optimizer' not in ckpt and 'message_hub' not in ckpt
        cfg = Config.fromstring(ckpt['meta']['cfg'], '.py')
        assert cfg.model.type == 'MoCo'
        dst = tmp_path / 'backbone.pth'
        assert CONVERT.main([path, str(dst), '--config', TARGET_CFG]) == 0
        printed = capsys.readouterr().out
        assert "prefix 'backbone.'" in printed and 'missing: 0' in printed
        out = torch.load(dst)['state_dict']
        assert torch.equal(out['backbone.conv1.weight'],
                           ckpt['state_dict']['backbone.conv1.weight'])
