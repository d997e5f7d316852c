# Test (evaluate) a checkpoint with an mmpretrain or mmseg config (the
# config's `default_scope` decides), in the OpenMMLab tools/test.py form.
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # the plugin works without `pip install`
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from coretune_mm.utils import apply_test_flags  # noqa: E402
from coretune_mm.utils import build_run_config  # noqa: E402
from coretune_mm.utils import finish_distributed  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out', help='dump the metrics to this json/yaml/pickle file')
    parser.add_argument(
        '--show-dir',
        help='save the drawn predictions into this folder (under the '
        'run\'s log folder, as mmpretrain and mmseg do)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation (the config\'s tta_model and '
        'tta_pipeline; mmpretrain configs get flip TTA by default)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = build_run_config(args.config, args.launcher, args.work_dir,
                           args.cfg_options)
    cfg.load_from = args.checkpoint
    apply_test_flags(cfg, show_dir=args.show_dir, tta=args.tta)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out:
        from mmengine.fileio import dump
        dump(metrics, args.out)
    finish_distributed()
    return metrics


if __name__ == '__main__':
    main()
