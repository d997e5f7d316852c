from .csl_models import (csl_checkpoint_url, csl_models, register_csl_scheme,
                         resolve_checkpoint)
from .run_config import (apply_test_flags, apply_train_flags,
                         build_model_without_checkpoints, build_run_config,
                         finish_distributed, use_cpu_distributed_defaults)
from .safe_load import (allow_mmengine_checkpoints, load_checkpoint_file,
                        mmengine_safe_globals)
from .scope import register_config_scope
from .tools import load_tool

__all__ = [
    'allow_mmengine_checkpoints', 'apply_test_flags', 'apply_train_flags',
    'csl_checkpoint_url', 'csl_models', 'register_csl_scheme',
    'resolve_checkpoint', 'build_model_without_checkpoints',
    'build_run_config', 'finish_distributed', 'load_checkpoint_file',
    'load_tool', 'mmengine_safe_globals', 'register_config_scope',
    'use_cpu_distributed_defaults'
]
