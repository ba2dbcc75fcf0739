"""Shared fixtures: quiet TensorFlow, a fresh Keras session per test, patches left as found."""
import os
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')
os.environ.setdefault('MPLBACKEND', 'Agg')

import contextlib  # noqa: E402
import io  # noqa: E402

import pytest  # noqa: E402

# Keras announces its backend on stderr at import ("Using TensorFlow backend."); under
# xdist that line lands after pytest's summary, so keep it out.
with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
    # TF 1.15 imports emit FutureWarnings about numpy dtypes; they are not ours.
    warnings.simplefilter('ignore', FutureWarning)
    import tensorflow as tf  # noqa: E402
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    from keras import backend as K  # noqa: E402

import keras_getpredict  # noqa: E402


@pytest.fixture(autouse=True)
def clean_session_and_patches():
    """Each test starts with an empty graph and leaves the patches as it found them."""
    was_installed = keras_getpredict.is_installed()
    K.clear_session()
    yield
    K.clear_session()
    if was_installed:
        keras_getpredict.install()
    else:
        keras_getpredict.uninstall()


@pytest.fixture
def installed():
    keras_getpredict.install()
    yield
