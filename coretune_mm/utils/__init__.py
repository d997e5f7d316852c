from .checkpoint_check import check_backbone_init, state_mismatch
from .csl_models import (csl_checkpoint_url, csl_models, register_csl_scheme,
                         resolve_checkpoint)
from .run_config import (add_test_outputs, apply_test_flags, apply_train_flags,
                         build_model_without_checkpoints, build_run_config,
                         finish_distributed, init_distributed_without_cuda,
                         smooth_core_log_keys, use_cpu_distributed_defaults)
from .safe_load import (allow_mmengine_checkpoints, load_checkpoint_file,
                        mmengine_safe_globals)
from .scope import register_config_scope
from .tools import load_tool

__all__ = [
    'add_test_outputs', 'check_backbone_init', 'state_mismatch',
    'allow_mmengine_checkpoints', 'apply_test_flags', 'apply_train_flags',
    'csl_checkpoint_url', 'csl_models', 'register_csl_scheme',
    'resolve_checkpoint', 'build_model_without_checkpoints',
    'build_run_config', 'finish_distributed', 'init_distributed_without_cuda',
    'load_checkpoint_file', 'load_tool', 'mmengine_safe_globals',
    'register_config_scope', 'smooth_core_log_keys',
    'use_cpu_distributed_defaults'
]
