from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class PooledFeatureHook(Hook):
    """During validation/testing, attach the head's input feature (the
    pooled feature of an mmpretrain classifier, as returned by the head's
    public ``pre_logits``) to each prediction as ``pooled_feat``, for metrics
    such as ``FeatureScatter``. Works with any mmpretrain ``ClsHead``
    (``LinearClsHead`` as well as ``CoreContrastiveClsHead``).

    Nothing is replaced: two PyTorch forward hooks are registered for the
    epoch and removed after it -- one on the head (its ``predict`` calls the
    head, so the hook sees the features and keeps ``head.pre_logits(feats)``)
    and one on the classifier (its ``predict`` output, the data samples
    handed to the evaluator, receives them). Training is untouched.
    """

    priority = 'NORMAL'

    def __init__(self):
        self._handles = []

    def _attach(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        head = model.head
        pooled = []

        def keep(module, args, output):
            pooled.append(module.pre_logits(args[0]).detach())

        def attach(module, args, kwargs, output):
            if kwargs.get('mode', args[2] if len(args) > 2 else None) != \
                    'predict' or not pooled:
                return output
            feats = pooled.pop()
            pooled.clear()
            for sample, feat in zip(output, feats):
                sample.set_field(feat, 'pooled_feat')
            return output

        self._handles = [
            head.register_forward_hook(keep),
            model.register_forward_hook(attach, with_kwargs=True)
        ]

    def _detach(self, runner=None):
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def before_val_epoch(self, runner):
        self._attach(runner)

    def after_val_epoch(self, runner, metrics=None):
        self._detach()

    def before_test_epoch(self, runner):
        self._attach(runner)

    def after_test_epoch(self, runner, metrics=None):
        self._detach()
