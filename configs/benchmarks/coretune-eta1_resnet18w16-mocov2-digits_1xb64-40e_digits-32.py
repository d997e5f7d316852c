# Core-tuning at the contrastive weight chosen on held-out training digits
# (eta 1; docs/results/digits/selection.json, a one-digit tie with eta 10 over
# eta 0.1) at Core-tuning's chosen schedule: the config of the effect
# benchmark's "Core, eta=1" runs and of the demo's row of that name.
_base_ = './coretune_resnet18w16-mocov2-digits_1xb64-40e_digits-32.py'
model = dict(head=dict(core_loss=dict(eta=1.0)))
