import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def get_version():
    scope = {}
    with open('coretune_mm/version.py', encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


def add_mim_extension():
    """Ship configs/, tools/ and model-index.yml inside the package as
    ``coretune_mm/.mim``, as OpenMMLab packages do, so that installed
    configs resolve by scope (``coretune_mm::coretune/...``): copied into
    wheels and sdists, linked for editable installs."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim = osp.join(repo, 'coretune_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src, dst = osp.join(repo, name), osp.join(mim, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim), dst)
        elif osp.isdir(src):
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copyfile(src, dst)


add_mim_extension()
setup(
    name='coretune-mm',
    version=get_version(),
    description='Core-tuning (contrast-regularized fine-tuning of contrastive '
    'self-supervised models) for mmpretrain and mmsegmentation',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['coretune_mm', 'coretune_mm.*']),
    include_package_data=True,
    package_data={
        'coretune_mm': [
            '.mim/model-index.yml', '.mim/configs/**/*.py',
            '.mim/configs/**/*.yml', '.mim/tools/*.py', '.mim/tools/*.sh',
            '.mim/tools/**/*.py'
        ]
    },
    python_requires='>=3.8',
    # mmcv is deliberately not listed: like every OpenMMLab project it must be
    # installed to match your torch/CUDA build
    # (`mim install "mmcv>=2.0.0,<2.2.0"`),
    # see requirements/mminstall.txt.
    install_requires=[
        'torch>=2.1', 'numpy', 'mmengine>=0.8.0,<1.0.0',
        'mmsegmentation>=1.0.0', 'mmpretrain>=1.0.0'
    ],
    # the .mat annotations of DTD, Flowers-102 and Stanford Cars
    # (requirements/optional.txt)
    extras_require={'datasets': ['mat4py']},
    license='Apache License 2.0',
    zip_safe=False)
