"""install()/uninstall() restore the exact objects; the guard; bad input; flag off is stock."""
import functools
import inspect
import pydoc
import re

import numpy as np
import pytest

pytestmark = pytest.mark.standalone  # standalone Keras' patch list and versions
keras = pytest.importorskip('keras')

from keras import backend as K  # noqa: E402
from keras import callbacks  # noqa: E402
from keras.engine import training  # noqa: E402

import keras_getpredict  # noqa: E402
from keras_getpredict.core import families  # noqa: E402
from keras_getpredict.core.families import standalone  # noqa: E402
from keras_getpredict.core.recording import RecordingFunction  # noqa: E402
from support.handmade import batches, linear_model, make_data  # noqa: E402

PATCHED = [(training.Model, 'fit'), (training.Model, 'fit_generator'),
           (training.Model, 'evaluate'), (training.Model, 'evaluate_generator'),
           families.for_stack(families.STANDALONE).patch_owners()['fit_loop'],
           (callbacks.History, 'on_epoch_end'), (callbacks.CSVLogger, 'on_epoch_end'),
           (callbacks.RemoteMonitor, 'on_epoch_end'),
           families.for_stack(families.STANDALONE).patch_owners()['tensorboard']]
# Classes that define the four methods again to forward them (Keras 2.1's `Sequential`).
PATCHED += [(owner, name)
            for owner in families.for_stack(families.STANDALONE).patch_owners()['forwarding_models']
            for name in ('fit', 'fit_generator', 'evaluate', 'evaluate_generator')]


def snapshot():
    return [vars(owner)[name] for owner, name in PATCHED]


@pytest.mark.monkeypatch_only
def test_install_twice_and_uninstall_restore_identity():
    keras_getpredict.uninstall()
    originals = snapshot()
    keras_getpredict.install()
    once = snapshot()
    assert all(a is not b for a, b in zip(originals, once))
    keras_getpredict.install()
    assert all(a is b for a, b in zip(once, snapshot()))
    keras_getpredict.uninstall()
    assert all(a is b for a, b in zip(originals, snapshot()))
    keras_getpredict.uninstall()  # safe when nothing is installed
    assert not keras_getpredict.is_installed()


def test_patched_context_manager_nests():
    keras_getpredict.uninstall()
    originals = snapshot()
    with keras_getpredict.patched():
        assert keras_getpredict.is_installed()
        with keras_getpredict.patched():
            pass
        assert keras_getpredict.is_installed()
    assert all(a is b for a, b in zip(originals, snapshot()))


def test_signature_and_help_show_get_predict(installed):
    # `Model`, and `Sequential`, which defines these methods again on Keras 2.1.
    for model_class in (keras.models.Model, keras.models.Sequential):
        for name in ('fit', 'fit_generator', 'evaluate', 'evaluate_generator'):
            method = getattr(model_class, name)
            parameters = inspect.signature(method).parameters
            assert parameters['get_predict'].default is False
            assert 'get_predict' in pydoc.render_doc(method)
        assert 'steps_per_epoch' in inspect.signature(model_class.fit_generator).parameters


@pytest.mark.monkeypatch_only
def test_version_guard(monkeypatch):
    keras_getpredict.uninstall()
    supported = r'supports Keras %s; found Keras ' % re.escape(
        ', '.join(families.SUPPORTED_KERAS))
    for version in ('2.0.8', '2.2.0', '2.3.0', '2.4.3'):
        monkeypatch.setattr(keras, '__version__', version)
        with pytest.raises(RuntimeError, match=supported + re.escape(version)):
            keras_getpredict.install(target='keras')
        assert not keras_getpredict.is_installed('keras')
    # Every supported release has its own family.
    for release in standalone.RELEASES:
        for version in release.versions:
            monkeypatch.setattr(keras, '__version__', version)
            assert type(families.for_stack(families.STANDALONE)) is release
    assert set(families.SUPPORTED_KERAS) == {'2.1.6', '2.2.4', '2.2.5', '2.3.1'}
    monkeypatch.undo()
    monkeypatch.setattr(K, 'backend', lambda: 'theano')
    with pytest.raises(RuntimeError, match='TensorFlow backend'):
        keras_getpredict.install(target='keras')


@pytest.mark.monkeypatch_only
def test_keras_2_0_8_is_refused_with_its_reason(monkeypatch):
    # matterport's minimum: its backend `Function` takes no `fetches`/`feed_dict`.
    keras_getpredict.uninstall()
    monkeypatch.setattr(keras, '__version__', '2.0.8')
    with pytest.raises(RuntimeError, match=r'found Keras 2\.0\.8, which cannot be: its backend '
                                           r'`Function` .* takes no `fetches` or `feed_dict`'):
        keras_getpredict.install(target='keras')
    assert not keras_getpredict.is_installed('keras')
    # A release without a known reason gets the list only.
    monkeypatch.setattr(keras, '__version__', '2.2.0')
    with pytest.raises(RuntimeError, match=r'found Keras 2\.2\.0\. Install one of those'):
        keras_getpredict.install(target='keras')


@pytest.mark.monkeypatch_only
def test_install_names_a_missing_keras_internal_and_patches_nothing(monkeypatch):
    keras_getpredict.uninstall()
    originals = snapshot()
    tensorboard, method = families.for_stack(families.STANDALONE).patch_owners()['tensorboard']
    monkeypatch.delattr(tensorboard, method)
    with pytest.raises(RuntimeError, match=r'keras\.callbacks\.TensorBoard\.' + method):
        keras_getpredict.install()
    assert not keras_getpredict.is_installed()
    monkeypatch.undo()
    assert all(a is b for a, b in zip(originals, snapshot()))


def test_every_keras_internal_we_rely_on_exists_here():
    assert families.for_stack(families.STANDALONE).missing_internals() == []


@pytest.mark.parametrize('value, error, message', [
    (1, TypeError, 'should be `True`/`False`, an output name'),
    ('nope', ValueError, r"Unknown output name\(s\).*\['dense'\]"),
    ([], ValueError, 'selects no output'),
    ({'outputs': []}, ValueError, 'selects no output'),
    ({'inputs': ['nope']}, ValueError, r"Unknown input name\(s\).*\['dense_input'\]"),
    ({'output': 'dense'}, ValueError, "Unknown keys in `get_predict`: \\['output'\\]"),
    ([3], TypeError, 'names'),
])
def test_bad_get_predict(installed, value, error, message):
    x, y = make_data(4)
    model = linear_model()
    with pytest.raises(error, match=message):
        model.evaluate_generator(batches(x, y, 4), steps=1, get_predict=value)
    with pytest.raises(error, match=message):
        model.fit(x, y, validation_data=(x, y), verbose=0, get_predict=value)


def test_get_predict_without_validation_data(installed):
    x, y = make_data(4)
    model = linear_model()
    weights = model.get_weights()
    with pytest.raises(ValueError, match='needs validation data'):
        model.fit_generator(batches(x, y, 4), steps_per_epoch=1, get_predict=True)
    with pytest.raises(ValueError, match='needs validation data'):
        model.fit(x, y, get_predict=True)
    # Keras validates on none of these either: nothing would ever be captured.
    for nothing in ({'validation_data': ()}, {'validation_split': 1.0},
                    {'validation_split': 0.}):
        with pytest.raises(ValueError, match='needs validation data'):
            model.fit(x, y, verbose=0, get_predict=True, **nothing)
    assert all((a == b).all() for a, b in zip(weights, model.get_weights()))


def test_generator_failing_mid_validation_propagates_and_leaves_model_clean(installed):
    x, y = make_data(8)
    model = linear_model()
    family = families.family_of(model)
    stock_test_function = family.built_test_function(model)
    # The model object that holds the test function: `model`, or the inner model of a
    # Sequential that forwards to one (Keras 2.1).
    compiled = family.compiled_model(model)

    def failing():
        yield x[:4], y[:4]
        raise IOError('disk gone')

    with pytest.raises(IOError, match='disk gone'):
        model.evaluate_generator(failing(), steps=2, get_predict=True)
    assert compiled.test_function is stock_test_function
    with pytest.raises(IOError, match='disk gone'):
        model.fit_generator(batches(x, y, 4), steps_per_epoch=2, verbose=0,
                            validation_data=failing(), validation_steps=2, get_predict=True)
    assert compiled.test_function is stock_test_function
    assert not any(k.startswith('_keras_getpredict') for k in vars(model))
    assert not any(k.startswith('_keras_getpredict') for k in vars(compiled))
    _, preds = model.evaluate_generator(batches(x, y, 4), steps=2, get_predict=True)
    assert len(preds['y_pred']) == 2
    assert not isinstance(compiled.test_function, RecordingFunction)


def run_training(seed_weights, x, y, vx, vy):
    model = linear_model()
    model.layers[0].set_weights([seed_weights])
    model.compile(keras.optimizers.SGD(lr=0.05), 'mse', metrics=['mae'])
    np.random.seed(7)
    h1 = model.fit(x, y, batch_size=5, epochs=2, verbose=0, validation_data=(vx, vy))
    np.random.seed(7)
    h2 = model.fit_generator(batches(x, y, 6), steps_per_epoch=3, epochs=2, verbose=0,
                             validation_data=batches(vx, vy, 4), validation_steps=2)
    results = (model.evaluate(vx, vy, verbose=0),
               model.evaluate_generator(batches(vx, vy, 4), steps=2))
    return h1, h2, results, model.get_weights()


def test_flag_off_is_stock_keras():
    x, y = make_data(18)
    vx, vy = make_data(8, seed=3)
    weights = np.random.RandomState(0).normal(size=(3, 2)).astype('float32')
    keras_getpredict.uninstall()
    stock = run_training(weights, x, y, vx, vy)
    K.clear_session()
    keras_getpredict.install()
    ours = run_training(weights, x, y, vx, vy)
    for h_stock, h_ours in zip(stock[:2], ours[:2]):
        assert h_stock.history == h_ours.history
        assert h_stock.epoch == h_ours.epoch
        assert h_stock.params == h_ours.params
        assert not hasattr(h_ours, 'val_gts_and_preds')
    assert stock[2] == ours[2]
    assert [type(r) for r in stock[2]] == [type(r) for r in ours[2]]
    for a, b in zip(stock[3], ours[3]):
        np.testing.assert_array_equal(a, b)


def test_install_leaves_the_keras_session_and_the_models_variables_alone():
    # install() builds a backend function in a throwaway graph to check the internals;
    # Keras 2.3.1's K.function asks get_session() for it, which once replaced Keras'
    # global session (the model's variables then read as uninitialised).
    keras_getpredict.uninstall()
    x, y = make_data(8)
    model = linear_model()
    model.fit(x, y, epochs=1, verbose=0)
    session = K.get_session()
    keras_getpredict.install()
    assert K.get_session() is session
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0, get_predict=True)


def _wrap(method, with_wraps):
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return method(*args, **kwargs)
    wrapper.calls = 0
    return functools.wraps(method)(wrapper) if with_wraps else wrapper


class CountingWrapper(object):
    """A wrapper object, as class-based decorators make them: `__call__`, `__get__` to
    bind, and `functools.update_wrapper` (so it has `__wrapped__`, but no `__code__`)."""

    def __init__(self, method):
        functools.update_wrapper(self, method)
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.__wrapped__(*args, **kwargs)

    def __get__(self, instance, owner=None):
        return self if instance is None else functools.partial(self, instance)


def _wrapt_proxy(method):
    # wrapt (a TensorFlow 1.15 requirement) is how tracing tools patch methods; its
    # proxy forwards `__code__`, `__module__` and even `__class__` to the function.
    wrapt = pytest.importorskip('wrapt')  # TensorFlow 1.12 and 1.13 do not install it
    return wrapt.FunctionWrapper(method, lambda wrapped, instance, args, kwargs:
                                 wrapped(*args, **kwargs))


# kind -> (wrap(method), what the message says of it: a regular expression)
WRAPPERS = {
    'functools.wraps': (lambda method: _wrap(method, True),
                        re.escape('`wrapper` (%s, line ' % __file__)),
    'bare': (lambda method: _wrap(method, False), re.escape('`wrapper` (%s, line ' % __file__)),
    'object': (CountingWrapper, re.escape('`%s.CountingWrapper object` (%s, line '
                                          % (__name__, __file__))),
    # A callable whose signature cannot be read (so no hand-edited `get_predict` check).
    'no signature': (lambda method: len,
                     re.escape('`builtin_function_or_method object` (<built-in function len>)')),
    # wrapt's C proxy type names no module; its repr says what it wraps.
    'wrapt': (_wrapt_proxy,
              r'`(wrapt\.wrappers\.)?FunctionWrapper object` \(<FunctionWrapper at 0x\w+ for '
              r'function at 0x\w+>\)'),
}


@pytest.mark.monkeypatch_only
@pytest.mark.parametrize('method', ['fit', 'fit_generator', 'evaluate', 'evaluate_generator'])
@pytest.mark.parametrize('kind', sorted(WRAPPERS))
def test_a_users_wrapper_before_install_is_named_not_blamed_on_keras(monkeypatch, method,
                                                                     kind):
    keras_getpredict.uninstall()
    originals = snapshot()
    wrap, named = WRAPPERS[kind]
    monkeypatch.setattr(training.Model, method, wrap(vars(training.Model)[method]))
    with pytest.raises(RuntimeError) as raised:
        keras_getpredict.install()
    message = str(raised.value)
    assert '`Model.%s` wrapped by code that is not Keras\' own' % method in message
    assert re.search(re.escape('`Model.%s` by ' % method) + named, message), message
    assert 'call keras_getpredict.install() before that wrapper' in message
    assert 'Keras/TensorFlow/Horovod is not one' not in message
    assert not keras_getpredict.is_installed()
    monkeypatch.undo()
    assert all(a is b for a, b in zip(originals, snapshot()))
    keras_getpredict.install()  # and without the wrapper, it installs
    assert keras_getpredict.is_installed()


@pytest.mark.monkeypatch_only
def test_keras_own_methods_are_not_taken_for_wrappers():
    owners = families.for_stack(families.STANDALONE).patch_owners()
    methods = [(owner, name) for owner in (owners['model'],) + tuple(owners['forwarding_models'])
               for name in ('fit', 'fit_generator', 'evaluate', 'evaluate_generator')]
    keras_getpredict.uninstall()
    assert families.foreign_wrappers(methods) == []


@pytest.mark.monkeypatch_only
@pytest.mark.parametrize('kind', ['functools.wraps', 'object'])
def test_a_users_wrapper_after_install_keeps_working_and_uninstall_says_so(kind):
    keras_getpredict.uninstall()
    originals = snapshot()
    keras_getpredict.install()
    wrapper = WRAPPERS[kind][0](vars(training.Model)['fit_generator'])
    training.Model.fit_generator = wrapper
    x, y = make_data(8)
    seen = []
    linear_model().fit_generator(
        batches(x, y, 4), 2, epochs=1, verbose=0, validation_data=batches(x, y, 4),
        validation_steps=2, get_predict=True,
        callbacks=[keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: seen.append(logs.get('val_gts_and_preds')))])
    assert wrapper.calls == 1 and len(seen[0]['y_pred']) == 2
    with pytest.warns(UserWarning, match='`Model.fit_generator` was wrapped again after'):
        keras_getpredict.uninstall()
    assert all(a is b for a, b in zip(originals, snapshot()))
