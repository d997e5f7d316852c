"""Effect benchmark: CE-tuning vs Core-tuning (and ablations) at schedules
chosen on held-out *training* images, several seeds, one reading of the test
split per run. The protocol and its options: ``coretune_mm.benchmark.effect``
(``--help``).

    # the shared CIFAR-10 subset and MoCo v2 checkpoint of ../shared
    python tools/analysis_tools/effect_benchmark.py --work-dir work_dirs/effect
    # the demo's digits (after `make demo` made the data and the backbone)
    python tools/analysis_tools/effect_benchmark.py --dataset digits \\
        --work-dir work_dirs/effect_digits
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:  # the plugin works without `pip install`
    sys.path.insert(0, REPO_ROOT)

from coretune_mm.benchmark.effect import main  # noqa: E402

if __name__ == '__main__':
    main()
