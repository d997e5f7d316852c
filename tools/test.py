# Test (evaluate) a checkpoint with an mmpretrain or mmseg config (the
# config's `default_scope` decides), in the OpenMMLab tools/test.py form:
# mmpretrain's flags with mmpretrain's semantics for a classification config,
# mmseg's for a segmentation config (coretune_mm.utils.apply_test_flags).
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # the plugin works without `pip install`
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from coretune_mm.utils import add_test_outputs  # noqa: E402
from coretune_mm.utils import apply_test_flags  # noqa: E402
from coretune_mm.utils import build_run_config  # noqa: E402
from coretune_mm.utils import finish_distributed  # noqa: E402
from coretune_mm.utils import init_distributed_without_cuda  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out',
        help='classification (mmpretrain): the .pkl file the predictions '
        'are dumped to (the metrics with --out-item metrics); segmentation '
        '(mmseg): the directory the predicted masks are written to')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='classification only: write the predictions (default) or the '
        'metrics to --out')
    parser.add_argument(
        '--show-dir',
        help='save the drawn predictions into this folder; a relative one '
        'goes under the run folder (--work-dir), not the current directory')
    parser.add_argument(
        '--show',
        action='store_true',
        help='display the drawn predictions in a window')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='draw every N-th sample (classification) or iteration '
        '(segmentation); default 1')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='seconds each --show window stays')
    parser.add_argument(
        '--amp', action='store_true', help='test under mixed precision')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='no pin_memory in the test data loader')
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
    apply_test_flags(
        cfg,
        show_dir=args.show_dir,
        tta=args.tta,
        show=args.show,
        interval=args.interval,
        wait_time=args.wait_time,
        amp=args.amp,
        no_pin_memory=args.no_pin_memory,
        out=args.out,
        out_item=args.out_item)
    init_distributed_without_cuda(cfg)
    runner = Runner.from_cfg(cfg)
    add_test_outputs(runner, cfg, out=args.out, out_item=args.out_item)
    metrics = runner.test()
    if args.out and args.out_item == 'metrics':
        from mmengine.fileio import dump
        dump(metrics, args.out)
    finish_distributed()
    return metrics


if __name__ == '__main__':
    main()
