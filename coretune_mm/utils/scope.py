"""``coretune_mm::`` config paths, as for the OpenMMLab packages.

mmengine resolves ``scope::folder/config.py`` (``_base_`` entries,
``mmengine.hub.get_config``) only for the packages in its ``MODULE2PACKAGE``
table, then reads ``<installed package>/.mim/configs/folder/config.py``.
``import coretune_mm`` adds the scope; ``pip install .`` (setup.py) ships
``configs/`` (and ``tools/``, ``model-index.yml``) as ``coretune_mm/.mim``.
"""
PACKAGE_NAME = 'coretune-mm'  # the distribution name, as pip knows it


def register_config_scope() -> None:
    """Let mmengine resolve ``coretune_mm::`` config paths."""
    from mmengine.config import utils as config_utils
    config_utils.MODULE2PACKAGE.setdefault('coretune_mm', PACKAGE_NAME)
