from .run_config import (build_model_without_checkpoints, build_run_config,
                         finish_distributed, use_cpu_distributed_defaults)
from .safe_load import (allow_mmengine_checkpoints, load_checkpoint_file,
                        mmengine_safe_globals)
from .scope import register_config_scope

__all__ = [
    'allow_mmengine_checkpoints', 'build_model_without_checkpoints',
    'build_run_config', 'finish_distributed', 'load_checkpoint_file',
    'mmengine_safe_globals', 'register_config_scope',
    'use_cpu_distributed_defaults'
]
