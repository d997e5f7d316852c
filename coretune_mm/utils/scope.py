"""``coretune_mm::`` config paths, as for the OpenMMLab packages.

mmengine resolves ``scope::folder/config.py`` (``_base_`` entries,
``mmengine.hub.get_config``) only for the packages in its ``MODULE2PACKAGE``
table, then reads ``<installed package>/.mim/configs/folder/config.py``.
``import coretune_mm`` adds the scope; ``pip install .`` (setup.py) ships
``configs/`` (and ``tools/``, ``model-index.yml``) as ``coretune_mm/.mim``,
and an editable install links them there.
"""
import os.path as osp

PACKAGE_NAME = 'coretune-mm'  # the distribution name, as pip knows it
PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the mmengine modules that bound ``get_installed_path`` at their import
_USERS = ('mmengine.utils', 'mmengine.utils.package_utils',
          'mmengine.config.config', 'mmengine.hub.hub')


def _installed_path(original):
    """mmengine's ``get_installed_path``, but ``coretune-mm`` resolves to the
    imported package's folder. mmengine joins the distribution's location
    with the module name, which for an editable (PEP 660) install is
    ``site-packages/coretune_mm`` -- a folder that does not exist, so every
    ``coretune_mm::`` path failed outside the checkout. For a regular
    install both are the same folder."""

    def get_installed_path(package: str) -> str:
        if package in (PACKAGE_NAME, 'coretune_mm'):
            return PACKAGE_DIR
        return original(package)

    get_installed_path.coretune_original = original
    return get_installed_path


def register_config_scope() -> None:
    """Let mmengine resolve ``coretune_mm::`` config paths."""
    import importlib

    from mmengine.config import utils as config_utils
    config_utils.MODULE2PACKAGE.setdefault('coretune_mm', PACKAGE_NAME)
    for name in _USERS:
        module = importlib.import_module(name)
        current = module.get_installed_path
        if not hasattr(current, 'coretune_original'):
            module.get_installed_path = _installed_path(current)
