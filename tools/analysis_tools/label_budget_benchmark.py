"""Label-efficiency benchmark: CE-tuning vs Core-tuning per number of
labelled images per class, schedules and eta selected per budget on
held-out training images. The protocol and its options:
``coretune_mm.benchmark.label_budget`` (``--help``).

    python tools/analysis_tools/label_budget_benchmark.py \\
        --work-dir work_dirs/label_budget --budgets 10 25 50 \\
        --seeds-for 10:10 --ablation-budget 10 --jobs 2
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:  # the plugin works without `pip install`
    sys.path.insert(0, REPO_ROOT)

from coretune_mm.benchmark.label_budget import main  # noqa: E402

if __name__ == '__main__':
    main()
