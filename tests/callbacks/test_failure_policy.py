"""Failure policy of the analysis callbacks: configuration errors raise at once (at
construction or at the first epoch), later errors in their own analysis warn once and
training goes on, unless `KERAS_GETPREDICT_STRICT=1` (set by conftest) makes them raise."""
import csv
import os
import warnings

import numpy as np
import pytest
from support.stack import CSVLogger, Callback
from sklearn import metrics as skm
from tensorboard.backend.event_processing import event_accumulator

from keras_getpredict.analysis import class_metrics, plots
from keras_getpredict.callbacks import batch_predictions
from keras_getpredict.callbacks import (AnalysisFailedWarning, BatchPredictions, EpochMetrics,
                                        PredictionSaver, PredictionsCallback,
                                        TensorBoardPredictions)
from keras_getpredict.core.failures import STRICT_ENV, FailurePolicy, strict_mode
from keras_getpredict.prediction_files import load_predictions
from support.models import frozen_dense

# Labels 0, 1, 2, ...; the frozen model predicts argmax(X): mostly right, not always.
Y = np.eye(3, dtype='float32')[[0, 1, 2] * 3]
X = (np.random.RandomState(3).rand(9, 3) +
     np.eye(3)[[0, 1, 2, 0, 2, 1, 0, 1, 1]]).astype('float32')


def _model():
    # softmax(5 x), frozen: predicts argmax(x).
    return frozen_dense(5 * np.eye(3), 'softmax', 'categorical_crossentropy', name='probs',
                        sequential=True)


class _Epochs(Callback):
    """Counts the epochs that began."""

    def __init__(self):
        super(_Epochs, self).__init__()
        self.begun = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.begun += 1


def _batches(size=4):
    while True:
        for i in range(0, len(X), size):
            yield X[i:i + size], Y[i:i + size]


def _fit(callbacks, epochs=3, generator=False):
    counter = _Epochs()
    model = _model()
    if generator:
        history = model.fit_generator(_batches(), steps_per_epoch=3, epochs=epochs, verbose=0,
                                      validation_data=_batches(), validation_steps=3,
                                      callbacks=[counter] + callbacks, get_predict=True)
    else:
        history = model.fit(X, Y, batch_size=4, epochs=epochs, verbose=0,
                            validation_data=(X, Y), callbacks=[counter] + callbacks,
                            get_predict=True)
    return history, counter


def _fails_from_call(number, target, name, monkeypatch, until=None, half_write=False,
                     error=RuntimeError):
    """Makes `target.name` raise `error` from its `number`-th call on (to its
    `until`-th); with `half_write`, after writing a few bytes to its first argument."""
    real = getattr(target, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if number <= len(calls) <= (until or len(calls)):
            if half_write:
                args[0].write(b'half a file')
            raise error('injected failure in %s' % name)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)
    return calls


@pytest.fixture
def lenient(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)


def _analysis_warnings(record):
    return [w for w in record if issubclass(w.category, AnalysisFailedWarning)]


# --- configuration errors: at construction ------------------------------------------

@pytest.mark.parametrize('make, error, message', [
    (lambda: EpochMetrics(class_names=['a', 'b', 'a']), ValueError,
     r"`class_names` should name each class once; \['a'\]"),
    (lambda: EpochMetrics(class_names={'probs': ['x', 'x']}), ValueError,
     r"`class_names\['probs'\]` should name each class once"),
    (lambda: EpochMetrics(class_names='abc'), TypeError, r'`class_names` should be a list'),
    (lambda: EpochMetrics(task='regression'), ValueError, r'`task` should be one of'),
    (lambda: EpochMetrics(task={'probs': 'ordinal'}), ValueError,
     r"`task\['probs'\]` should be one of"),
    (lambda: EpochMetrics(threshold='high'), TypeError, r'`threshold` should be a number'),
    (lambda: EpochMetrics(outputs=3), TypeError, r'`outputs` should be None, an output name'),
    (lambda: EpochMetrics(outputs=[]), TypeError, r'`outputs` should be None'),
    (lambda: EpochMetrics(prefix=None), TypeError, r'`prefix` should be a string'),
    (lambda: PredictionSaver(42), TypeError, r'`filepath` should be a string'),
    (lambda: PredictionSaver('e{epoch.npz'), ValueError, r'`filepath` .* no valid'),
    (lambda: PredictionSaver('e{}.npz'), ValueError, r'`filepath` .* positional field'),
    (lambda: PredictionSaver('e{epoch:.3q}.npz'), ValueError, r'`filepath` .* no valid'),
    (lambda: PredictionSaver('e.npz', metrics='f1'), TypeError, r'`metrics` should be'),
    (lambda: TensorBoardPredictions('logs', num_thresholds=1), ValueError,
     r'`num_thresholds` should be at least 2'),
])
def test_bad_constructor_arguments_raise_naming_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


# --- configuration errors: at the first epoch, strict or not ------------------------

@pytest.mark.parametrize('make, message', [
    (lambda tmp: EpochMetrics(class_names=['a', 'b']), r"Output 'probs'.*should list 3 names"),
    (lambda tmp: EpochMetrics(task='binary'), r"Output 'probs'.*one score per sample"),
    (lambda tmp: EpochMetrics(task={'probz': 'multiclass'}),
     r"`task` has settings for the outputs \['probz'\].*\['probs'\]"),
    (lambda tmp: TensorBoardPredictions(tmp, EpochMetrics(class_names=list('abcd'))),
     r'should list 3 names'),
    (lambda tmp: PredictionSaver(os.path.join(tmp, 'e{val_f1:.2f}.npz')),
     r"`filepath` .* names 'val_f1'"),
    (lambda tmp: PredictionSaver(os.path.join(tmp, 'e{val_loss:d}.npz')),
     r'`filepath` .* does not format'),
])
@pytest.mark.parametrize('generator', [False, True])
def test_configuration_error_raises_at_the_first_epoch_even_when_lenient(
        installed, lenient, tmpdir, make, message, generator):
    callback = make(str(tmpdir.join('run')))
    counter = _Epochs()
    with pytest.raises(ValueError, match=message):
        model = _model()
        if generator:
            model.fit_generator(_batches(), steps_per_epoch=3, epochs=3, verbose=0,
                                validation_data=_batches(), validation_steps=3,
                                callbacks=[counter, callback], get_predict=True)
        else:
            model.fit(X, Y, epochs=3, verbose=0, validation_data=(X, Y),
                      callbacks=[counter, callback], get_predict=True)
    assert counter.begun == 1
    assert not os.path.exists(str(tmpdir.join('run'))) or not [
        n for n in os.listdir(str(tmpdir.join('run'))) if n.endswith('.npz')]


# --- later failures of our own analysis ---------------------------------------------

@pytest.mark.parametrize('generator', [False, True])
def test_metrics_failure_at_epoch_2_warns_once_and_training_completes(
        installed, lenient, tmpdir, monkeypatch, generator):
    _fails_from_call(2, class_metrics, 'classification_metrics', monkeypatch)
    csv_path = str(tmpdir.join('log.csv'))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        history, counter = _fit([EpochMetrics(), CSVLogger(csv_path)], epochs=4,
                                generator=generator)
    assert counter.begun == 4
    failures = _analysis_warnings(record)
    assert len(failures) == 1
    text = str(failures[0].message)
    assert 'EpochMetrics failed while computing the metrics of epoch 2' in text
    assert 'Traceback (most recent call last)' in text
    assert 'RuntimeError: injected failure in classification_metrics' in text
    assert STRICT_ENV in text
    # Epoch 1 is real; the failed epochs say NaN, never epoch 1's number again
    # (fit_generator hands every epoch the same logs dict).
    f1 = history.history['val_f1_macro']
    expected = skm.f1_score(Y.argmax(1), X.argmax(1), average='macro')
    assert f1[0] == pytest.approx(expected) and len(f1) == 4 and np.isnan(f1[1:]).all()
    assert len(history.history['val_loss']) == 4
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [r['val_f1_macro'] for r in rows[1:]] == ['nan'] * 3


def test_metrics_failure_at_epoch_2_raises_in_strict_mode(installed, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, '1')
    _fails_from_call(2, class_metrics, 'classification_metrics', monkeypatch)
    counter = _Epochs()
    with pytest.raises(RuntimeError, match='injected failure'):
        _model().fit(X, Y, epochs=4, verbose=0, validation_data=(X, Y),
                     callbacks=[counter, EpochMetrics()], get_predict=True)
    assert counter.begun == 2


def test_saver_failure_warns_once_and_leaves_no_partial_file(installed, lenient, tmpdir,
                                                             monkeypatch):
    _fails_from_call(2, np, 'savez_compressed', monkeypatch, until=2, half_write=True)
    saver = PredictionSaver(str(tmpdir.join('e{epoch}.npz')))
    with pytest.warns(AnalysisFailedWarning, match='saving the predictions of epoch 2') as record:
        _, counter = _fit([saver], epochs=3)
    assert counter.begun == 3
    assert len(_analysis_warnings(record)) == 1
    assert sorted(os.listdir(str(tmpdir))) == ['e1.npz', 'e3.npz']
    assert saver.saved == [str(tmpdir.join('e1.npz')), str(tmpdir.join('e3.npz'))]
    assert load_predictions(saver.saved[1]).epoch == 3


def test_saver_key_missing_after_a_metrics_failure_only_warns(installed, lenient, tmpdir,
                                                              monkeypatch):
    # EpochMetrics fails at epoch 2; its keys are NaN then, so the saver's template
    # still formats and each epoch has its file.
    _fails_from_call(2, class_metrics, 'classification_metrics', monkeypatch)
    metrics = EpochMetrics()
    saver = PredictionSaver(str(tmpdir.join('e{epoch}_{val_f1_macro:.2f}.npz')), metrics)
    with pytest.warns(AnalysisFailedWarning):
        _fit([saver, metrics], epochs=2)
    assert [os.path.basename(p) for p in saver.saved][1] == 'e2_nan.npz'


def test_tensorboard_failure_leaves_out_the_whole_epoch(installed, lenient, tmpdir,
                                                        monkeypatch):
    _fails_from_call(2, plots, 'confusion_matrix_figure', monkeypatch, until=2)
    metrics = EpochMetrics()
    log_dir = str(tmpdir)
    with pytest.warns(AnalysisFailedWarning, match='TensorBoardPredictions failed while '
                                                   'writing the TensorBoard pictures of epoch 2'):
        _, counter = _fit([metrics, TensorBoardPredictions(log_dir, metrics)], epochs=3)
    assert counter.begun == 3
    accumulator = event_accumulator.EventAccumulator(
        log_dir, size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    # Epoch 2's PR curves were built before its picture failed, yet none was written.
    assert [e.step for e in accumulator.Tensors('class_0/pr_curves')] == [0, 2]
    assert [e.step for e in accumulator.Tensors('confusion_matrix/image_summary')] == [0, 2]


def test_user_callback_errors_propagate_unchanged_when_lenient(installed, lenient):
    error = KeyError('raised by the user')

    class Broken(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise error

    with pytest.raises(KeyError) as raised:
        _fit([EpochMetrics(), Broken()], epochs=3)
    assert raised.value is error


# --- any error of ours, of any type, in any hook of our callbacks -------------------

def _one_warning_naming(record, owner, error):
    failures = _analysis_warnings(record)
    assert len(failures) == 1, [str(w.message) for w in failures]
    text = str(failures[0].message)
    assert text.startswith('%s failed while ' % owner)
    assert '%s: injected failure' % error.__name__ in text and STRICT_ENV in text


def _as_stock(history, generator=False):
    # Frozen weights: every epoch's `val_loss` is a stock evaluation of the final ones,
    # on the validation data as `_fit` passes it.
    if generator:
        stock = _model().evaluate_generator(_batches(), 3)
    else:
        stock = _model().evaluate(X, Y, batch_size=4, verbose=0)
    np.testing.assert_allclose(history.history['val_loss'], [stock] * 3, rtol=1e-6)


@pytest.mark.parametrize('error', [RuntimeError, ValueError, TypeError])
@pytest.mark.parametrize('generator', [False, True])
def test_a_fault_outside_the_analysis_writes_nan_and_training_goes_on(
        installed, lenient, monkeypatch, generator, error):
    # Finding the predictions in the logs (outside `run_analysis`) fails from epoch 2.
    _fails_from_call(2, PredictionsCallback, 'predictions_in', monkeypatch, error=error)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        history, counter = _fit([EpochMetrics()], generator=generator)
    assert counter.begun == 3
    _as_stock(history, generator)
    f1 = history.history['val_f1_macro']
    assert not np.isnan(f1[0]) and np.isnan(f1[1:]).all()
    _one_warning_naming(record, 'EpochMetrics', error)


@pytest.mark.parametrize('error', [RuntimeError, ValueError])
def test_a_fault_in_a_file_or_picture_hook_skips_that_epoch(installed, lenient, tmpdir,
                                                            monkeypatch, error):
    _fails_from_call(2, PredictionsCallback, 'predictions_in', monkeypatch, until=2,
                     error=error)
    saver = PredictionSaver(str(tmpdir.join('e{epoch}.npz')))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        history, counter = _fit([saver])
    assert counter.begun == 3
    _as_stock(history)
    assert sorted(os.listdir(str(tmpdir))) == ['e1.npz', 'e3.npz']
    _one_warning_naming(record, 'PredictionSaver', error)


@pytest.mark.parametrize('error', [RuntimeError, ValueError])
def test_a_fault_in_batch_predictions_records_nothing_and_training_goes_on(
        installed, lenient, monkeypatch, error):
    _fails_from_call(1, batch_predictions, 'resolve', monkeypatch, error=error)
    recorder = BatchPredictions()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        history, counter = _fit([recorder])
    assert counter.begun == 3 and list(recorder.records) == []
    _as_stock(history)
    _one_warning_naming(record, 'BatchPredictions', error)


@pytest.mark.parametrize('make', [
    lambda tmp: EpochMetrics(),
    lambda tmp: PredictionSaver(os.path.join(tmp, 'e{epoch}.npz')),
    lambda tmp: TensorBoardPredictions(tmp),
])
def test_a_fault_in_a_hook_raises_in_strict_mode(installed, monkeypatch, tmpdir, make):
    monkeypatch.setenv(STRICT_ENV, '1')
    _fails_from_call(2, PredictionsCallback, 'predictions_in', monkeypatch, error=ValueError)
    with pytest.raises(ValueError, match='injected failure'):
        _fit([make(str(tmpdir))])


# --- the policy itself ----------------------------------------------------------------

@pytest.mark.parametrize('value, strict', [
    (None, False), ('', False), ('0', False), ('false', False), ('Off', False),
    ('1', True), ('yes', True), ('true', True)])
def test_strict_mode_is_read_from_the_environment_at_call_time(monkeypatch, value, strict):
    if value is None:
        monkeypatch.delenv(STRICT_ENV, raising=False)
    else:
        monkeypatch.setenv(STRICT_ENV, value)
    assert strict_mode() is strict


def test_policy_returns_the_result_and_counts_failures(lenient):
    policy = FailurePolicy('Owner')
    assert policy.run('adding', lambda a, b: a + b, 2, 3) == 5

    def boom():
        raise ZeroDivisionError('boom')

    with pytest.warns(AnalysisFailedWarning, match='Owner failed while dividing') as record:
        assert policy.run('dividing', boom) is None
        assert policy.run('dividing', boom) is None
    assert len(record) == 1 and policy.failures == 2


def test_policy_never_swallows_keyboard_interrupt(lenient):
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        FailurePolicy("Owner").run('waiting', interrupted)


@pytest.mark.parametrize('make, wording', [
    (lambda tmp: EpochMetrics(), 'so it computes nothing'),
    (lambda tmp: PredictionSaver(os.path.join(tmp, 'e{epoch}.npz')), 'pass `get_predict=True`'),
    (lambda tmp: TensorBoardPredictions(tmp), 'pass `get_predict=True`'),
])
def test_each_callback_warns_once_when_the_logs_hold_no_predictions(tmpdir, make, wording):
    # A loop that calls the callbacks without keras-getpredict's capture (its own
    # training loop, or Keras without `install()`): three epochs, no predictions.
    callback = make(str(tmpdir))
    callback.set_model(_model())
    callback.set_params({'verbose': 0, 'epochs': 3})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        callback.on_train_begin({})
        for epoch in range(3):
            callback.on_epoch_begin(epoch, {})
            callback.on_epoch_end(epoch, {'loss': 1.0, 'val_loss': 1.0})
        callback.on_train_end({})
    said = [str(w.message) for w in record
            if "found no 'val_gts_and_preds' in the epoch logs" in str(w.message)]
    assert len(said) == 1
    assert said[0].startswith(type(callback).__name__) and wording in said[0]
