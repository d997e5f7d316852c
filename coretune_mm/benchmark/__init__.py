"""Benchmarks of Core-tuning against CE-tuning, one harness for all
(``harness``: cached runs in fresh ``tools/train.py`` processes, selection
and paired statistics):

* ``effect`` -- CE vs Core at schedules selected on held-out training
  images (``tools/analysis_tools/effect_benchmark.py``);
* ``label_budget`` -- the same per labelled-images-per-class budget
  (``tools/analysis_tools/label_budget_benchmark.py``);
* ``segmentation`` -- CamVid DeepLabV3+ selected on the val split, read once
  on the test split (``tools/analysis_tools/seg_benchmark.py``).

The tools are thin command lines over these modules.
"""
