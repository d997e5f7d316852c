"""Import a script of the repository's ``tools/`` (not a package) by path."""
import importlib.util
import os.path as osp
import sys
from types import ModuleType

_HERE = osp.dirname(osp.dirname(osp.abspath(__file__)))


def tools_dir() -> str:
    """The ``tools/`` folder: the source checkout's, else the one a wheel
    ships as ``coretune_mm/.mim/tools``."""
    for candidate in (osp.join(osp.dirname(_HERE),
                               'tools'), osp.join(_HERE, '.mim', 'tools')):
        if osp.isdir(candidate):
            return candidate
    raise FileNotFoundError('no tools/ folder beside coretune_mm (a source '
                            'checkout or an installed wheel has one)')


def load_tool(relpath: str) -> ModuleType:
    """``load_tool('analysis_tools/effect_benchmark.py')``: the module,
    imported once per process (cached in ``sys.modules``)."""
    if not relpath.endswith('.py'):
        relpath += '.py'
    name = 'coretune_tool_' + relpath[:-3].replace('/', '_')
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, osp.join(tools_dir(), relpath))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
