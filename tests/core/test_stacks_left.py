"""`install()` with no target: every supported stack patched, the others left stock in one
warning line, `get_predict` on a stack left raising at the start of the call, and no
exception out of the probing (TensorFlow 1.14's spec-less lazy module)."""
import importlib.util
import re
import warnings

import numpy as np
import pytest
import tensorflow as tf

import keras_getpredict
from keras_getpredict.core import families

X = np.eye(4, dtype='float32')[[0, 1, 2, 3, 0, 1]][:, :3]
Y = np.eye(3, dtype='float32')[[0, 1, 2, 0, 0, 1]]
STANDALONE_UNAVAILABLE = families.unavailable(families.STANDALONE)
STANDALONE_IMPORTABLE = families.importable(families.STANDALONE) and \
    STANDALONE_UNAVAILABLE is None
TF_KERAS_UNAVAILABLE = families.unavailable(families.TF_KERAS)
TF_KERAS_SUPPORTED = TF_KERAS_UNAVAILABLE is None
needs_standalone = pytest.mark.skipif(not STANDALONE_IMPORTABLE,
                                      reason=str(STANDALONE_UNAVAILABLE))
needs_tf_keras = pytest.mark.skipif(not TF_KERAS_SUPPORTED, reason=str(TF_KERAS_UNAVAILABLE))


def model_of(keras):
    model = keras.models.Sequential([keras.layers.Dense(3, activation='softmax',
                                                        input_shape=(3,))])
    model.compile('sgd', 'categorical_crossentropy')
    return model


def install_leaving(stack, found):
    """`install()`, checked to leave `stack` stock in one warning line matching `found`
    and to patch the other stack."""
    lines = install_and_warnings()
    assert len(lines) == 1 and '\n' not in lines[0], lines
    assert re.search(r'left %s stock \(found ' % re.escape(stack) + found, lines[0]), lines[0]
    other = [s for s in families.STACKS if s != stack][0]
    assert keras_getpredict.is_installed(other) and not keras_getpredict.is_installed(stack)


def install_and_warnings():
    """`install()`, and the messages of the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        keras_getpredict.install()
    return [str(w.message) for w in caught if 'keras_getpredict.install()' in str(w.message)]


def as_tensorflow_1_14(monkeypatch, lazy=True):
    """This TensorFlow as 1.14.0 says it is: its version, and (`lazy`) its lazily loaded
    module without a spec, on which `importlib.util.find_spec` raises."""
    monkeypatch.setattr(tf, '__version__', '1.14.0')
    if lazy:
        monkeypatch.setattr(tf, '__spec__', None)


@pytest.mark.monkeypatch_only
@needs_standalone
@needs_tf_keras
def test_an_unsupported_standalone_keras_is_left_in_one_line_and_refuses_get_predict(
        monkeypatch):
    import keras
    from keras_getpredict.callbacks import EpochMetrics
    keras_getpredict.uninstall()
    model = model_of(keras)
    monkeypatch.setattr(keras, '__version__', '2.0.8')
    install_leaving('keras', r'TensorFlow [\d.]+, Keras 2\.0\.8\): keras_getpredict supports '
                             r'Keras 2\.1\.6, 2\.2\.4, 2\.2\.5, 2\.3\.1; found Keras 2\.0\.8')
    # At the start of the call: not one batch trained.
    weights = model.get_weights()
    with pytest.raises(RuntimeError, match=r'`get_predict` cannot capture on this Keras: '
                                           r'.*found Keras 2\.0\.8'):
        model.fit(X, Y, validation_data=(X, Y), verbose=0, get_predict=True)
    with pytest.raises(RuntimeError, match=r'^EpochMetrics: .*found Keras 2\.0\.8'):
        model.fit(X, Y, validation_data=(X, Y), verbose=0, callbacks=[EpochMetrics()])
    assert all((a == b).all() for a, b in zip(weights, model.get_weights()))
    # Without capture it is stock Keras, `get_predict=False` included.
    model.fit(X, Y, verbose=0, get_predict=False)
    assert model.evaluate(X, Y, verbose=0) > 0
    keras_getpredict.uninstall()
    assert not keras_getpredict.is_installed()


@pytest.mark.monkeypatch_only
@needs_standalone
@needs_tf_keras
def test_standalone_keras_on_another_backend_is_left_in_one_line(monkeypatch):
    import keras
    keras_getpredict.uninstall()
    monkeypatch.setattr(keras.backend, 'backend', lambda: 'theano')
    install_leaving('keras', r"TensorFlow [\d.]+, Keras [\d.]+\): keras_getpredict needs the "
                             r"TensorFlow backend; the Keras backend is 'theano'")
    with pytest.raises(RuntimeError, match='needs the TensorFlow backend'):
        model_of(keras).evaluate(X, Y, verbose=0, get_predict=True)


@pytest.mark.monkeypatch_only
@needs_tf_keras
def test_an_unsupported_tf_keras_is_left_in_one_line_and_refuses_get_predict(monkeypatch):
    from tensorflow import keras as tfk
    from keras_getpredict.callbacks import EpochMetrics
    keras_getpredict.uninstall()
    fit = vars(tfk.Model)['fit']
    as_tensorflow_1_14(monkeypatch, lazy=False)
    if not STANDALONE_IMPORTABLE:
        # tf.keras was the only stack: nothing to patch.
        with pytest.raises(RuntimeError, match=r'found no Keras it supports \(found '
                                               r'TensorFlow 1\.14\.0\).*TensorFlow 1\.15'):
            keras_getpredict.install()
        assert not keras_getpredict.is_installed() and vars(tfk.Model)['fit'] is fit
        return
    install_leaving('tf.keras', r'TensorFlow 1\.14\.0, Keras [\d.]+\): keras_getpredict '
                                r'supports the tf\.keras of TensorFlow 1\.15 .*found '
                                r'TensorFlow 1\.14\.0, tf\.keras 2\.2\.4-tf')
    model = model_of(tfk)
    with pytest.raises(RuntimeError, match=r'cannot capture on this Keras: .*TensorFlow 1\.14'):
        model.fit(X, Y, validation_data=(X, Y), verbose=0, get_predict=True)
    with pytest.raises(RuntimeError, match=r'cannot capture on this Keras'):
        model.evaluate(X, Y, verbose=0, get_predict=True)
    with pytest.raises(RuntimeError, match=r'^EpochMetrics: .*TensorFlow 1\.14\.0'):
        model.fit(X, Y, validation_data=(X, Y), verbose=0, callbacks=[EpochMetrics()])
    model.fit(X, Y, verbose=0)  # stock without capture
    keras_getpredict.uninstall()
    assert vars(tfk.Model)['fit'] is fit


@pytest.mark.monkeypatch_only
def test_no_supported_stack_raises_and_patches_nothing(monkeypatch):
    keras_getpredict.uninstall()
    as_tensorflow_1_14(monkeypatch)
    if families.importable(families.STANDALONE):
        import keras
        monkeypatch.setattr(keras, '__version__', '2.0.8')
    with pytest.raises(RuntimeError, match=r'found no Keras it supports \(found TensorFlow '
                                           r'1\.14\.0.*\): .*TensorFlow 1\.15'):
        keras_getpredict.install()
    assert not keras_getpredict.is_installed()


@pytest.mark.monkeypatch_only
@needs_standalone
def test_tensorflow_1_14_with_keras_2_2_4_installs_standalone_keras(monkeypatch):
    # The new user's case: `install()` as the README says, on TensorFlow 1.14.0 +
    # Keras 2.2.4 (or this cell's Keras). On that stack for real; elsewhere its
    # TensorFlow is simulated: the version, and the lazily loaded module without a spec.
    import keras
    if not tf.__version__.startswith('1.14.'):
        as_tensorflow_1_14(monkeypatch)
        with pytest.raises(ValueError, match='__spec__ is None'):
            importlib.util.find_spec('tensorflow')  # what the probing must survive
    keras_getpredict.uninstall()
    install_leaving('tf.keras', r'TensorFlow 1\.14\.0, Keras %s\)' % re.escape(keras.__version__))
    model = model_of(keras)
    _, gts_and_preds = model.evaluate(X, Y, verbose=0, get_predict=True)
    np.testing.assert_allclose(np.concatenate(gts_and_preds['y_pred']), model.predict(X),
                               rtol=1e-6)
