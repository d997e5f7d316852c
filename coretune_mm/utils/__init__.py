from .run_config import (build_model_without_checkpoints, build_run_config,
                         use_cpu_distributed_defaults)

__all__ = [
    'build_model_without_checkpoints', 'build_run_config',
    'use_cpu_distributed_defaults'
]
