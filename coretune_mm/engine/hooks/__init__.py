from .contrastive_init_hook import ContrastiveInitHook
from .iteration_seed_hook import IterationSeedHook
from .pooled_feature_hook import PooledFeatureHook

__all__ = ['ContrastiveInitHook', 'IterationSeedHook', 'PooledFeatureHook']
