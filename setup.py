from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def get_version():
    scope = {}
    with open('coretune_mm/version.py', encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='coretune-mm',
    version=get_version(),
    description='Core-tuning (contrast-regularized fine-tuning of contrastive '
    'self-supervised models) for mmpretrain and mmsegmentation',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['coretune_mm', 'coretune_mm.*']),
    python_requires='>=3.8',
    # mmcv is deliberately not listed: like every OpenMMLab project it must be
    # installed to match your torch/CUDA build (`mim install "mmcv>=2.0.0,<2.2.0"`),
    # see requirements/mminstall.txt.
    install_requires=[
        'torch>=1.8', 'numpy', 'mmengine>=0.8.0,<1.0.0',
        'mmsegmentation>=1.0.0', 'mmpretrain>=1.0.0'
    ],
    license='Apache License 2.0',
    zip_safe=False)
