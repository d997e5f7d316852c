"""Segmentation benchmark: CE-tuning vs Core-tuning of DeepLabV3+ on CamVid,
the schedule chosen on the val split, the test split read once per final
run (mIoU and per-class IoU). The protocol and its options:
``coretune_mm.benchmark.segmentation`` (``--help``).

    python tools/analysis_tools/seg_benchmark.py --work-dir work_dirs/seg \\
        --lrs 0.05 --iters-grid 1000 2000 --seeds 0 1 2 --jobs 2
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:  # the plugin works without `pip install`
    sys.path.insert(0, REPO_ROOT)

from coretune_mm.benchmark.segmentation import main  # noqa: E402

if __name__ == '__main__':
    main()
