"""keras-getpredict: validation predictions for Keras 2.x / TensorFlow 1.x training loops."""
import io
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
URL = 'https://github.com/keras-getpredict/keras-getpredict'


def read_version():
    # The one version string is keras_getpredict.__version__.
    with io.open(os.path.join(HERE, 'keras_getpredict', '__init__.py'), encoding='utf-8') as f:
        return re.search(r"^__version__ = '([^']+)'", f.read(), re.M).group(1)


setup(
    name='keras-getpredict',
    version=read_version(),
    description=('`get_predict` for Keras 2.x on TensorFlow 1.x: validation y_true/y_pred in '
                 'every epoch\'s logs, from the same forward pass as the validation loss.'),
    long_description=io.open(os.path.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    url=URL,
    project_urls={
        'Documentation': URL + '/tree/main/docs',
        'Changelog': URL + '/blob/main/CHANGELOG.md',
        'Source': URL,
        'Issues': URL + '/issues',
    },
    license='MIT',
    packages=find_packages(include=['keras_getpredict', 'keras_getpredict.*']),
    # TensorFlow 1.x has wheels on the package index for Python 3.5-3.7 only.
    python_requires='>=3.6, <3.8',
    # Neither TensorFlow nor standalone Keras is required: `[cpu]` pulls `tensorflow`,
    # `[gpu]` `tensorflow-gpu` (requiring either would drag the other in), and a
    # tf.keras user needs no standalone Keras at all. `install()` patches whichever
    # supported stack is importable (docs/versions.md).
    install_requires=[
        'numpy>=1.14,<1.19',
        'scipy>=0.14',  # core/results.py: sparse inputs (standalone Keras brings it; TF not)
        'six>=1.10',
    ],
    extras_require={
        'cpu': ['tensorflow>=1.12,<1.16', 'protobuf<4', 'h5py<3'],
        'gpu': ['tensorflow-gpu>=1.12,<1.16', 'protobuf<4', 'h5py<3'],
        # Standalone Keras, the releases the run-time patch supports
        # (core.families.SUPPORTED_KERAS); not needed for tf.keras.
        'keras': ['keras>=2.1.6,<2.4,!=2.2.0,!=2.2.1,!=2.2.2,!=2.2.3,!=2.3.0', 'h5py<3'],
        # keras_getpredict.analysis (reports, plots), the callbacks that use it, the demo.
        'metrics': ['scikit-learn>=0.22', 'matplotlib>=3.1'],
        # Built from source against the installed TensorFlow, without build isolation
        # (docs/horovod.md).
        'horovod': ['horovod>=0.20,<0.29'],
    },
    entry_points={'console_scripts': ['keras-getpredict=keras_getpredict.__main__:main']},
    classifiers=[
        'Development Status :: 4 - Beta',
        'Intended Audience :: Developers',
        'Intended Audience :: Science/Research',
        'License :: OSI Approved :: MIT License',
        'Operating System :: POSIX :: Linux',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.6',
        'Programming Language :: Python :: 3.7',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
