from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class PooledFeatureHook(Hook):
    """During validation/testing, attach the head's input feature (the
    backbone's pooled feature of an mmpretrain classifier, ``feats[-1]``) to
    each prediction as ``pooled_feat``, for metrics such as
    ``FeatureScatter``. The head's ``predict`` is wrapped for the epoch and
    restored afterwards; training is untouched. Works with any head
    (``LinearClsHead`` as well as ``CoreContrastiveClsHead``)."""

    priority = 'NORMAL'

    def _wrap(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        head = model.head
        original = head.predict

        def predict(feats, data_samples=None, *args, **kwargs):
            out = original(feats, data_samples, *args, **kwargs)
            pooled = feats[-1].detach()
            for sample, feat in zip(out, pooled):
                sample.set_field(feat, 'pooled_feat')
            return out

        head.predict = predict
        self._restore = (head, original)

    def _unwrap(self, runner):
        head, _ = self._restore
        del head.predict  # back to the class method
        self._restore = None

    def before_val_epoch(self, runner):
        self._wrap(runner)

    def after_val_epoch(self, runner, metrics=None):
        self._unwrap(runner)

    def before_test_epoch(self, runner):
        self._wrap(runner)

    def after_test_epoch(self, runner, metrics=None):
        self._unwrap(runner)
