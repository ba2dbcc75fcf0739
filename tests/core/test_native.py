"""keras_getpredict on a Keras with `get_predict` built in (the fork from `patches/`), and
on stock Keras: detected, never patched twice, and one forward pass per batch in both.

`nox -s fork` runs every test file against the fork; the tests here that only make
sense in one of the two modes say so in their skip reason.
"""
import inspect

import numpy as np
import pytest

pytestmark = pytest.mark.standalone  # the fork is a build of standalone Keras 2.2.4
keras = pytest.importorskip('keras')

from keras import callbacks  # noqa: E402
from keras import backend as K  # noqa: E402
from keras.engine import training  # noqa: E402
from keras.layers import Dense  # noqa: E402
from keras.models import Sequential  # noqa: E402
from keras.optimizers import SGD  # noqa: E402

import keras_getpredict  # noqa: E402
from keras_getpredict.core import families  # noqa: E402

NATIVE = keras_getpredict.is_native()
fork_only = pytest.mark.skipif(not NATIVE, reason='needs the Keras fork: `nox -s fork`')
stock_only = pytest.mark.skipif(NATIVE, reason='needs stock Keras; this Keras is the fork')

KERNEL = np.array([[1., 0.], [0., 2.], [0., 1.]], dtype='float32')
OWNERS = [(training.Model, 'fit'), (training.Model, 'fit_generator'),
          (training.Model, 'evaluate'), (training.Model, 'evaluate_generator'),
          families.for_stack(families.STANDALONE).patch_owners()['fit_loop'],
          (callbacks.History, 'on_epoch_end'),
          families.for_stack(families.STANDALONE).patch_owners()['tensorboard']]


def linear_model():
    # y_pred = x @ KERNEL, frozen by lr=0: column 0 copies the sample index.
    model = Sequential([Dense(2, input_shape=(3,), use_bias=False, name='dense')])
    model.layers[0].set_weights([KERNEL])
    model.compile(SGD(lr=0.), 'mse', metrics=['mae'])
    return model


def data(n):
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, size=(n, 3)).astype('float32')
    x[:, 0] = np.arange(n)
    return x, rng.uniform(-1, 1, size=(n, 2)).astype('float32')


def batches(x, y, size):
    while True:
        for start in range(0, len(x), size):
            yield x[start:start + size], y[start:start + size]


@stock_only
def test_stock_keras_is_not_native():
    assert keras_getpredict.native_version() is None
    with pytest.raises(ImportError):
        from keras import getpredict  # noqa: F401
    assert 'get_predict' not in inspect.signature(vars(training.Model)['fit']).parameters


@fork_only
def test_fork_reports_its_version_and_keeps_the_keras_version():
    import pkg_resources
    assert keras_getpredict.native_version() == '2.2.4+getpredict.3'
    assert pkg_resources.get_distribution('keras').version == '2.2.4+getpredict.3'
    # Code that checks `keras.__version__` (and our own version guard) sees 2.2.4.
    assert keras.__version__ == '2.2.4'


@fork_only
def test_install_on_the_fork_patches_nothing_and_get_predict_stays():
    keras_getpredict.uninstall()
    before = [vars(owner)[name] for owner, name in OWNERS]
    keras_getpredict.install()
    keras_getpredict.install()
    assert all(a is b for a, b in zip(before, [vars(o)[n] for o, n in OWNERS]))
    for owner, name in OWNERS:
        assert not hasattr(vars(owner)[name], '_keras_getpredict_original')
    assert keras_getpredict.is_installed()
    keras_getpredict.uninstall()
    assert keras_getpredict.is_installed()  # built in: nothing to take away
    for name in ('fit', 'fit_generator', 'evaluate', 'evaluate_generator'):
        parameter = inspect.signature(getattr(training.Model, name)).parameters['get_predict']
        assert parameter.default is False


@fork_only
def test_fork_ships_every_core_module_verbatim():
    import importlib
    import pkgutil
    import keras_getpredict.core as core
    names = [m.name for m in pkgutil.iter_modules(core.__path__)]
    assert {'plan', 'recording', 'families', 'publishing', 'logs_filters', 'horovod'} <= set(names)
    # Each subpackage's modules too, but tf.keras' family (the fork is standalone Keras 2.2.4).
    for package in [m.name for m in pkgutil.iter_modules(core.__path__) if m.ispkg]:
        path = importlib.import_module('keras_getpredict.core.' + package).__path__
        names += ['%s.%s' % (package, m.name) for m in pkgutil.iter_modules(path)
                  if (package, m.name) != ('families', 'tf_keras')]
    assert {'families.base', 'horovod.collectives', 'horovod.gather'} <= set(names)
    for name in names:
        ours = importlib.import_module('keras_getpredict.core.' + name)
        theirs = importlib.import_module('keras.getpredict.' + name)
        assert inspect.getsource(ours) == inspect.getsource(theirs), name
    assert theirs.__name__.startswith('keras.getpredict.')


@pytest.fixture
def counted_function_calls(monkeypatch):
    """Counts runs of Keras backend functions (one session run each)."""
    calls = []
    # The class `K.function` builds: Keras 2.2.4's own `Function`, tf.keras'
    # `GraphExecutionFunction` on Keras 2.3.
    function_class = type(K.function([], [K.constant(0.)]))
    original = function_class.__call__

    def counting(self, inputs):
        calls.append(self.name)
        return original(self, inputs)

    monkeypatch.setattr(function_class, '__call__', counting)
    return calls


def test_one_session_run_per_validation_batch(installed, counted_function_calls):
    x, y = data(10)
    model = linear_model()
    metrics, preds = model.evaluate_generator(batches(x, y, 4), steps=3, get_predict=True)
    assert len(counted_function_calls) == 3
    # No predict_on_batch pass (on the model that holds the functions: the inner
    # model of a Keras 2.1 Sequential).
    assert families.family_of(model).compiled_model(model).predict_function is None
    np.testing.assert_allclose(np.concatenate(preds['y_pred']), x.dot(KERNEL), atol=1e-5)
    np.testing.assert_array_equal(np.concatenate(preds['y_true']), y)

    del counted_function_calls[:]
    model.fit_generator(batches(x, y, 5), steps_per_epoch=2, epochs=2, verbose=0,
                        validation_data=batches(x, y, 4), validation_steps=3,
                        get_predict=True)
    # Per epoch: 2 training steps and 3 validation batches, nothing more.
    assert len(counted_function_calls) == 2 * (2 + 3)
    assert families.family_of(model).compiled_model(model).predict_function is None


def test_fit_arrays_with_get_predict_puts_each_epochs_predictions_in_history(installed):
    x, y = data(9)
    model = linear_model()
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y),
                        get_predict=True)
    assert keras_getpredict.LOGS_KEY not in history.history
    preds = keras_getpredict.concat_batches(history.val_gts_and_preds)
    np.testing.assert_allclose(preds['y_pred'], x.dot(KERNEL), atol=1e-5)
    np.testing.assert_array_equal(preds['y_true'], y)
    assert [len(b) for b in history.val_gts_and_preds['y_pred']] == [4, 4, 1]


@stock_only
def test_install_refuses_a_hand_edited_keras_with_its_own_get_predict(monkeypatch):
    keras_getpredict.uninstall()
    stock = vars(training.Model)['evaluate']

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None,
                 steps=None, get_predict=False):
        return stock(self, x, y, batch_size, verbose, sample_weight, steps)

    monkeypatch.setattr(training.Model, 'evaluate', evaluate)
    before = [vars(owner)[name] for owner, name in OWNERS]
    with pytest.raises(RuntimeError, match=r'already takes `get_predict` in `Model\.evaluate`'):
        keras_getpredict.install()
    assert not keras_getpredict.is_installed()
    assert all(a is b for a, b in zip(before, [vars(o)[n] for o, n in OWNERS]))
