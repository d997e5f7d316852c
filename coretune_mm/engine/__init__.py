from .hooks import ContrastiveInitHook, IterationSeedHook, PooledFeatureHook

__all__ = ['ContrastiveInitHook', 'IterationSeedHook', 'PooledFeatureHook']
