"""The failure boundary around our own capture code (core/failures.py): an unexpected
error in building the capturing function, recording a batch, publishing an epoch or
gathering warns once and the call goes on as stock Keras; strict mode raises it; errors
of the model, the data, Keras and user callbacks propagate as without keras-getpredict.

Faults are injected into the core the active form runs (`keras.getpredict` on the fork).
"""
import warnings

import numpy as np
import pytest
from support.stack import STACK, TF_KERAS, Callback, LambdaCallback

import keras_getpredict
from support.forms import active_core
from support.handmade import batches, expected_output, index_of, linear_model, make_data
from keras_getpredict.core.failures import STRICT_ENV
from keras_getpredict.core.results import LOGS_KEY

X, Y = make_data(12)
X_VAL, Y_VAL = make_data(8, seed=1)
REDUCE = {'reduce': {'num_classes': 2, 'bins': 4}}


@pytest.fixture
def lenient(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)


def _failing_from(call_number, exception=RuntimeError):
    """A replacement that raises from its `call_number`-th call on (1-based)."""
    def make(original):
        calls = []

        def replacement(*args, **kwargs):
            calls.append(1)
            if len(calls) >= call_number:
                raise exception('injected failure')
            return original(*args, **kwargs)
        return replacement
    return make


def _inject(monkeypatch, module, owner, name, call_number=1, exception=RuntimeError):
    if module == 'families':  # the family class of the models the tests build
        target = type(active_core(module).for_stack(STACK))
    else:
        target = getattr(active_core(module), owner) if owner else active_core(module)
    monkeypatch.setattr(target, name, _failing_from(call_number, exception)(
        getattr(target, name)))


# Each stage of our code, and where to inject its fault.
STAGES = {
    'building the capturing function': ('families', None, 'function_like'),
    'recording a batch': ('recording', 'BatchRecorder', 'add'),
    'publishing an epoch': ('recording', 'BatchRecorder', 'take'),
}
REDUCE_STAGES = {
    'building the capturing function': ('families', None, 'function_like'),
    'recording a batch': ('reduce_counts', 'ReducingRecorder', 'add_counted'),
    'publishing an epoch': ('reduce_counts', 'ReducingRecorder', 'take'),
}


class _Logs(Callback):
    def __init__(self):
        super(_Logs, self).__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(dict(logs or {}))


def _fit(method, get_predict, epochs=3, callbacks=()):
    model = linear_model()
    seen = _Logs()
    if method == 'fit':
        model.fit(X, Y, batch_size=4, epochs=epochs, verbose=0, validation_data=(X_VAL, Y_VAL),
                  callbacks=[seen] + list(callbacks), get_predict=get_predict)
    else:
        model.fit_generator(batches(X, Y, 4), 3, epochs=epochs, verbose=0, workers=0,
                            validation_data=batches(X_VAL, Y_VAL, 4), validation_steps=2,
                            callbacks=[seen] + list(callbacks), get_predict=get_predict)
    return model, seen.epochs


def _stock_val_loss(method):
    model, epochs = _fit(method, False, epochs=1)
    return epochs[0]['val_loss']


def _failure_warnings(record):
    # The class of the core that warned (the fork has its own copy).
    warning = active_core('failures').CaptureFailedWarning
    return [w for w in record if issubclass(w.category, warning)]


@pytest.mark.parametrize('method', ['fit', 'fit_generator'])
@pytest.mark.parametrize('stage', sorted(STAGES))
@pytest.mark.parametrize('get_predict', [True, REDUCE], ids=['full', 'reduce'])
def test_our_failure_warns_once_and_the_epochs_go_on_as_stock(installed, lenient, monkeypatch,
                                                              method, stage, get_predict):
    stock = _stock_val_loss(method)
    stages = STAGES if get_predict is True else REDUCE_STAGES
    _inject(monkeypatch, *stages[stage])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        model, epochs = _fit(method, get_predict)
    assert len(epochs) == 3
    for logs in epochs:
        assert LOGS_KEY not in logs
        assert logs['val_loss'] == pytest.approx(stock)  # frozen weights: every epoch alike
    failures = _failure_warnings(record)
    assert len(failures) == 1, [str(w.message) for w in failures]
    text = str(failures[0].message)
    assert 'RuntimeError: injected failure' in text and 'Traceback' in text
    assert STRICT_ENV in text and '`%s`' % method in text
    # Nothing of ours is left on the model.
    assert not isinstance(getattr(model, 'test_function', None),
                          active_core('recording').RecordingFunction)


@pytest.mark.parametrize('method', ['fit', 'fit_generator'])
def test_a_failure_in_a_later_epoch_keeps_the_epochs_before_it(installed, lenient, monkeypatch,
                                                               method):
    # `take` fails from its 2nd call: epoch 1 is published, 2 and 3 are not.
    _inject(monkeypatch, 'recording', 'BatchRecorder', 'take', call_number=2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        _, epochs = _fit(method, True)
    assert [LOGS_KEY in logs for logs in epochs] == [True, False, False]
    y_pred = np.concatenate(epochs[0][LOGS_KEY]['y_pred'])
    np.testing.assert_allclose(y_pred, expected_output(X_VAL[index_of(y_pred)]), rtol=1e-6)
    assert len(_failure_warnings(record)) == 1


@pytest.mark.parametrize('stage', sorted(STAGES))
@pytest.mark.parametrize('generator', [False, True])
def test_an_evaluation_returns_its_stock_result_and_none(installed, lenient, monkeypatch, stage,
                                                         generator):
    model = linear_model()

    def evaluate(**kwargs):
        if generator:
            return model.evaluate_generator(batches(X_VAL, Y_VAL, 4), 2, **kwargs)
        return model.evaluate(X_VAL, Y_VAL, batch_size=4, verbose=0, **kwargs)

    stock = evaluate()
    _inject(monkeypatch, *STAGES[stage])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        metrics, preds = evaluate(get_predict=True)
    assert preds is None
    assert metrics == pytest.approx(stock)
    assert len(_failure_warnings(record)) == 1


@pytest.mark.parametrize('error', [RuntimeError, ValueError])
def test_a_failing_gather_falls_back_too(installed, lenient, monkeypatch, error):
    def failing_combiner(mode, selection, to):
        def combine(recorded, failed=False):
            raise error('injected failure')
        return combine
    monkeypatch.setattr(active_core('publishing'), 'combiner_for', failing_combiner)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        _, epochs = _fit('fit_generator', True, epochs=2)
        metrics, preds = linear_model().evaluate(X_VAL, Y_VAL, verbose=0, get_predict=True)
    assert [LOGS_KEY in logs for logs in epochs] == [False, False]
    assert preds is None and len(_failure_warnings(record)) == 2  # once per call


@pytest.mark.parametrize('stage', sorted(STAGES))
def test_strict_mode_raises_our_failure(installed, monkeypatch, stage):
    monkeypatch.setenv(STRICT_ENV, '1')
    _inject(monkeypatch, *STAGES[stage])
    with pytest.raises(RuntimeError, match='injected failure'):
        _fit('fit_generator', True)


@pytest.mark.parametrize('get_predict, kind, message', [
    ({'outputs': 3}, TypeError, 'should be a name or a list of names'),
    ({'bogus': True}, ValueError, 'Unknown keys'),
    ({'outputs': ['nope']}, ValueError, 'Unknown output name'),
    ({'layers': ['nope']}, ValueError, 'Unknown layer name'),
    ({'reduce': {'num_classes': 1}}, ValueError, 'num_classes'),
    ({'reduce': 3}, TypeError, 'should be a dict'),
])
@pytest.mark.parametrize('method', ['fit', 'fit_generator'])
def test_configuration_errors_raise_as_such_before_training(installed, lenient, method,
                                                            get_predict, kind, message):
    # Sorted by where they come from: a `ConfigurationError`, of the type Keras raises.
    with pytest.raises(kind, match=message) as raised:
        _fit(method, get_predict)
    assert isinstance(raised.value, active_core('failures').ConfigurationError)


def test_capture_without_validation_data_is_a_configuration_error(installed, lenient):
    with pytest.raises(ValueError, match='needs validation data') as raised:
        linear_model().fit(X, Y, epochs=1, verbose=0, get_predict=True)
    assert isinstance(raised.value, active_core('failures').ConfigurationError)
    with pytest.raises(TypeError, match='`callbacks` should be a list') as raised:
        with keras_getpredict.capturing(callbacks=3):
            pass
    assert isinstance(raised.value, TypeError) and isinstance(raised.value, ValueError)


def test_a_configuration_error_during_the_run_raises_even_when_lenient(installed, lenient):
    # Two classes asked for, three units on the output: not ours to swallow.
    with pytest.raises(ValueError, match='num_classes'):
        _fit('fit_generator', {'reduce': {'num_classes': 3}})


# --- every stage, any exception type: ours is ours wherever it arises ---------------

# Where our code runs outside the per-batch capture, and where to inject its fault.
SETUP_STAGES = {
    'choosing the mode': ('plan', None, 'mode_for'),
    'building the recorder': ('modes', 'FullCapture', 'recorder'),
    'checking the selection': ('modes', 'FullCapture', 'check'),
}
HOOK_STAGES = {
    # `Publisher.on_epoch_end` calls it (in both forms).
    'Publisher.on_epoch_end': ('publishing', None, 'take_recorded'),
    # `Publisher.on_batch_begin`, `on_epoch_end` and `on_train_end` (and the fork's
    # training loop) close the capture window through it.
    'closing the window': ('publishing', 'TestFunctionSwap', 'disarm'),
    # `Armer.on_batch_end` (the fork's loop) opens it; only where the window is used.
    'opening the window': ('publishing', 'TestFunctionSwap', 'arm'),
}
ALL_STAGES = dict(STAGES, **dict(SETUP_STAGES, **HOOK_STAGES))
# What an evaluation runs of them (it makes no check before its first batch).
EVALUATE_STAGES = dict(STAGES, **{k: v for k, v in SETUP_STAGES.items()
                                  if k != 'checking the selection'})


def _windowed(method):
    """Whether this `method` opens a capture window (fit_generator; tf.keras' `fit` too)."""
    return method == 'fit_generator' or TF_KERAS


def _the_warning(record, method, error):
    """The one `CaptureFailedWarning`'s text: it names the user's call and the error."""
    failures = _failure_warnings(record)
    assert len(failures) == 1, [str(w.message) for w in failures]
    text = str(failures[0].message)
    assert '%s: injected failure' % error.__name__ in text and 'Traceback' in text
    assert '`%s`' % method in text and STRICT_ENV in text
    return text


@pytest.mark.parametrize('error', [RuntimeError, ValueError, TypeError])
@pytest.mark.parametrize('stage', sorted(ALL_STAGES))
@pytest.mark.parametrize('method', ['fit', 'fit_generator'])
def test_a_fault_of_ours_at_any_stage_leaves_the_fit_as_stock(installed, lenient, monkeypatch,
                                                              method, stage, error):
    if stage == 'opening the window' and not _windowed(method):
        pytest.skip('no capture window in this call')
    _inject(monkeypatch, *ALL_STAGES[stage], exception=error)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        model, epochs = _fit(method, True)
    assert len(epochs) == 3 and not any(LOGS_KEY in logs for logs in epochs)
    # As stock: the last epoch's `val_loss` is a stock evaluation of the final weights,
    # made the way the call validates (Keras 2.3.1's `evaluate_generator` reports the
    # last batch's loss, as its `fit_generator` does).
    if method == 'fit':
        stock = model.evaluate(X_VAL, Y_VAL, batch_size=4, verbose=0)
    else:
        stock = model.evaluate_generator(batches(X_VAL, Y_VAL, 4), 2, workers=0)
    assert epochs[-1]['val_loss'] == pytest.approx(stock[0] if np.ndim(stock) else stock)
    _the_warning(record, method, error)
    assert not isinstance(getattr(model, 'test_function', None),
                          active_core('recording').RecordingFunction)


@pytest.mark.parametrize('error', [RuntimeError, ValueError])
@pytest.mark.parametrize('stage', sorted(EVALUATE_STAGES))
@pytest.mark.parametrize('method', ['evaluate', 'evaluate_generator'])
def test_a_fault_of_ours_leaves_the_evaluation_as_stock_and_names_the_call(
        installed, lenient, monkeypatch, method, stage, error):
    model = linear_model()

    def evaluate(**kwargs):
        if method == 'evaluate_generator':
            return model.evaluate_generator(batches(X_VAL, Y_VAL, 4), 2, **kwargs)
        return model.evaluate(X_VAL, Y_VAL, batch_size=4, verbose=0, **kwargs)

    stock = evaluate()
    _inject(monkeypatch, *EVALUATE_STAGES[stage], exception=error)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        metrics, preds = evaluate(get_predict=True)
    assert preds is None and metrics == pytest.approx(stock)
    _the_warning(record, method, error)


@pytest.mark.parametrize('error', [RuntimeError, ValueError, TypeError])
@pytest.mark.parametrize('stage', sorted(dict(SETUP_STAGES, **HOOK_STAGES)))
def test_strict_mode_raises_our_failure_at_any_stage(installed, monkeypatch, stage, error):
    monkeypatch.setenv(STRICT_ENV, '1')
    _inject(monkeypatch, *ALL_STAGES[stage], exception=error)
    with pytest.raises(error, match='injected failure'):
        _fit('fit_generator', True)


def test_a_users_subclass_keeps_its_own_errors(installed, lenient):
    # A user's subclass of our callback: its own code is not ours to swallow.
    from keras_getpredict.callbacks import PredictionsCallback

    class Mine(PredictionsCallback):
        get_predict = True

        def log_epoch(self, epoch, logs):
            raise _Boom('user subclass failed')

    with pytest.raises(_Boom, match='user subclass failed'):
        _fit('fit_generator', None, callbacks=[Mine()])


# --- errors that are not ours propagate as stock Keras raises them --------------------

class _Boom(Exception):
    pass


def _raising_batches(after):
    for i, batch in enumerate(batches(X_VAL, Y_VAL, 4)):
        if i == after:
            raise _Boom('generator failed at batch %d' % i)
        yield batch


@pytest.mark.parametrize('get_predict', [False, True])
def test_a_failing_generator_raises_as_stock(installed, lenient, get_predict):
    model = linear_model()
    with pytest.raises(_Boom, match='generator failed at batch 1'):
        model.fit_generator(batches(X, Y, 4), 3, epochs=1, verbose=0, workers=0,
                            validation_data=_raising_batches(1), validation_steps=2,
                            get_predict=get_predict)
    with pytest.raises(_Boom, match='generator failed at batch 1'):
        model.evaluate_generator(_raising_batches(1), 2, workers=0, get_predict=get_predict)
    # Whatever was swapped in is back.
    assert not isinstance(getattr(model, 'test_function', None),
                          active_core('recording').RecordingFunction)


def test_a_failing_model_raises_its_own_error_unchanged(installed, lenient):
    model = linear_model()
    wrong = np.zeros((4, 5), 'float32')  # the model takes 3 features
    with pytest.raises(ValueError) as stock:
        model.evaluate(wrong, Y_VAL[:4], verbose=0)
    with pytest.raises(ValueError) as ours:
        model.evaluate(wrong, Y_VAL[:4], verbose=0, get_predict=True)
    assert str(ours.value) == str(stock.value)


def test_a_users_callback_error_propagates(installed, lenient):
    class Failing(Callback):
        def on_predictions_published(self, epoch, logs):
            raise _Boom('user callback failed')

    with pytest.raises(_Boom, match='user callback failed'):
        _fit('fit_generator', True, callbacks=[Failing()])
    with pytest.raises(_Boom, match='user callback failed'):
        _fit('fit', True, callbacks=[LambdaCallback(
            on_epoch_end=lambda epoch, logs: (_ for _ in ()).throw(_Boom('user callback failed')))])
