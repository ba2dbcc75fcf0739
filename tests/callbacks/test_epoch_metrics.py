"""`EpochMetrics` in training: sklearn's numbers over the whole validation set reach
History, CSVLogger, EarlyStopping, ModelCheckpoint and a TensorBoard listed before it."""
import csv
import glob
import os

import numpy as np
import pytest
from support.paths import ROOT
from support.stack import (CSVLogger, Dense, EarlyStopping, Input, LambdaCallback, Model,
                           ModelCheckpoint, SGD, TF_KERAS, TensorBoard, tensorboard_tag)
from sklearn import metrics as skm
from tensorboard.backend.event_processing import event_accumulator

from keras_getpredict.callbacks import EpochMetrics
from support.models import frozen_dense

# Validation set: 10 samples in batches of 4 (the last one smaller). The model is
# softmax(5 * x) with frozen weights, so its predicted class is argmax(x).
RNG = np.random.RandomState(0)
X_VAL = RNG.rand(10, 3).astype('float32')
LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 2])
Y_VAL = np.eye(3, dtype='float32')[LABELS]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _frozen_model(outputs=1):
    # softmax(5 x) on every head: predicts argmax(x).
    return frozen_dense(5 * np.eye(3), 'softmax', 'categorical_crossentropy', input_name='x',
                        names=['head_%d' % i for i in range(outputs)])


def _batches(x, y, size):
    while True:
        for i in range(0, len(x), size):
            if isinstance(y, list):
                yield x[i:i + size], [t[i:i + size] for t in y]
            else:
                yield x[i:i + size], y[i:i + size]


def _fit(model, callbacks, epochs=2, verbose=0, y=Y_VAL):
    return model.fit_generator(_batches(X_VAL, y, 4), steps_per_epoch=3, epochs=epochs,
                               validation_data=_batches(X_VAL, y, 4), validation_steps=3,
                               callbacks=callbacks, verbose=verbose, get_predict=True)


def _expected():
    predicted = X_VAL.argmax(1)
    return {
        'val_f1_macro': skm.f1_score(LABELS, predicted, average='macro'),
        'val_precision_macro': skm.precision_score(LABELS, predicted, average='macro',
                                                   zero_division=0),
        'val_recall_weighted': skm.recall_score(LABELS, predicted, average='weighted'),
        'val_accuracy': skm.accuracy_score(LABELS, predicted),
        'val_roc_auc_macro': skm.roc_auc_score(LABELS, _softmax(5 * X_VAL), multi_class='ovr'),
    }


def test_history_holds_sklearn_metrics_of_the_whole_validation_set(installed):
    history = _fit(_frozen_model(), [EpochMetrics()])
    for key, value in _expected().items():
        assert history.history[key] == pytest.approx([value, value], rel=1e-5), key
    # The whole set, not a mean of batch values: batches [0:4], [4:8], [8:10] give other F1s.
    per_batch = [skm.f1_score(LABELS[s], X_VAL[s].argmax(1), average='macro')
                 for s in (slice(0, 4), slice(4, 8), slice(8, 10))]
    assert np.mean(per_batch) != pytest.approx(_expected()['val_f1_macro'])


def test_keys_in_csv_and_tensorboard_listed_first(installed, tmpdir):
    csv_path = str(tmpdir.join('log.csv'))
    log_dir = str(tmpdir.join('tb'))
    # TensorBoard and CSVLogger stand before EpochMetrics, as in Mask R-CNN.
    _fit(_frozen_model(), [TensorBoard(log_dir, write_graph=False), CSVLogger(csv_path),
                           EpochMetrics()])
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    expected = _expected()
    for key in ('val_f1_macro', 'val_roc_auc_macro', 'val_accuracy'):
        assert [float(r[key]) for r in rows] == pytest.approx([expected[key]] * 2, rel=1e-5)
    accumulator = event_accumulator.EventAccumulator(log_dir)
    accumulator.Reload()
    events = accumulator.Scalars(tensorboard_tag('val_f1_macro'))
    assert [e.step for e in events] == [0, 1]
    assert [e.value for e in events] == pytest.approx([expected['val_f1_macro']] * 2, rel=1e-5)


def test_early_stopping_on_val_f1_macro_stops(installed):
    # lr = 0: the metric never improves, so patience 1 stops after the second epoch.
    # Were the key missing, EarlyStopping would only warn and run all 10 epochs.
    stopper = EarlyStopping(monitor='val_f1_macro', mode='max', patience=1)
    history = _fit(_frozen_model(), [stopper, EpochMetrics()], epochs=10)
    assert len(history.history['val_f1_macro']) == 2
    assert stopper.stopped_epoch == 1


def test_model_checkpoint_listed_first_monitors_it(installed, tmpdir):
    path = str(tmpdir.join('best_{epoch}_{val_f1_macro:.4f}.h5'))
    _fit(_frozen_model(), [ModelCheckpoint(path, monitor='val_f1_macro', mode='max',
                                           save_best_only=True), EpochMetrics()])
    saved = [os.path.basename(p) for p in glob.glob(str(tmpdir.join('best_*.h5')))]
    assert saved == ['best_1_%.4f.h5' % _expected()['val_f1_macro']]


def test_verbose_prints_table_under_the_progress_line(installed, capsys):
    _fit(_frozen_model(), [EpochMetrics(class_names=['a', 'b', 'c'])], epochs=1, verbose=1)
    out = capsys.readouterr().out
    table_start = out.index("Validation metrics after epoch 1, output 'head_0'")
    if TF_KERAS:
        # tf.keras runs its ProgbarLogger after every other callback: the epoch's
        # last progress line (with val_loss) comes under the table.
        assert table_start < out.index('val_loss')
    else:
        progress_end = out.index('val_loss')
        assert progress_end < table_start
        assert out[out.index('\n', progress_end) + 1:].startswith('Validation metrics')
    row = [r for r in out.splitlines() if r.strip().startswith('a ')][0].split()
    predicted = X_VAL.argmax(1)
    assert float(row[3]) == pytest.approx(skm.f1_score(LABELS == 0, predicted == 0), abs=5e-4)
    assert int(row[5]) == 4


def test_silent_when_fit_is_silent_or_verbose_0(installed, capsys):
    _fit(_frozen_model(), [EpochMetrics()], epochs=1, verbose=0)
    _fit(_frozen_model(), [EpochMetrics(verbose=0)], epochs=1, verbose=2)
    assert 'Validation metrics' not in capsys.readouterr().out


def test_per_class_keys_and_integer_labels(installed):
    history = _fit(_frozen_model(), [EpochMetrics(class_names=['a', 'b', 'c'], per_class=True)],
                   epochs=1)
    f1 = skm.f1_score(LABELS, X_VAL.argmax(1), average=None)
    assert [history.history['val_f1_%s' % c][0] for c in 'abc'] == pytest.approx(f1, rel=1e-5)
    scores = _softmax(5 * X_VAL)
    auc = [skm.roc_auc_score(LABELS == k, scores[:, k]) for k in range(3)]
    assert [history.history['val_roc_auc_%s' % c][0] for c in 'abc'] == pytest.approx(auc,
                                                                                      rel=1e-5)
    assert [history.history['val_support_%s' % c][0] for c in 'abc'] == [4, 3, 3]


@pytest.mark.parametrize('class_names, both', [
    (['macro', 'b', 'c'], ["the macro precision", "precision of class 'macro'"]),
    (['a', 'micro', 'c'], ["the micro precision", "precision of class 'micro'"]),
    (['a b', 'a_b', 'c'], ["precision of class 'a b'", "precision of class 'a_b'"]),
    ({'head_0': ['weighted', 'b', 'c']}, ["the weighted precision",
                                          "precision of class 'weighted'"]),
])
def test_class_names_clashing_with_a_key_raise_at_construction(class_names, both):
    with pytest.raises(ValueError) as error:
        EpochMetrics(class_names=class_names, per_class=True)
    message = str(error.value)
    assert both[0] in message and both[1] in message
    EpochMetrics(class_names=class_names)  # without per-class keys nothing clashes


def test_output_names_clashing_as_keys_raise_at_the_first_epoch(installed):
    x = Input((3,), name='x')
    heads = [Dense(3, activation='softmax', name=n)(x) for n in ('a.b', 'a.b_precision')]
    model = Model(x, heads)
    model.compile(SGD(lr=0.0), 'categorical_crossentropy')
    # Keys start with the output name: only a class name can make them meet.
    metrics = EpochMetrics(per_class=True, class_names={'a.b': ['x', 'y', 'z'],
                                                        'a.b_precision': ['p', 'q', 'r']})
    model.fit(X_VAL, [Y_VAL, Y_VAL], epochs=1, verbose=0, validation_data=(X_VAL, [Y_VAL, Y_VAL]),
              callbacks=[metrics], get_predict=True)
    clashing = EpochMetrics(per_class=True, class_names={'a.b': ['precision_macro', 'y', 'z'],
                                                         'a.b_precision': ['p', 'q', 'r']})
    with pytest.raises(ValueError, match="precision of class 'precision_macro' of output "
                                         "'a.b' and the macro precision of output "
                                         "'a.b_precision' under the key "
                                         "'val_a.b_precision_precision_macro'"):
        model.fit(X_VAL, [Y_VAL, Y_VAL], epochs=1, verbose=0,
                  validation_data=(X_VAL, [Y_VAL, Y_VAL]), callbacks=[clashing],
                  get_predict=True)


def test_several_outputs_get_their_name_in_the_key(installed):
    model = _frozen_model(outputs=2)
    history = model.fit_generator(
        _batches(X_VAL, [Y_VAL, Y_VAL], 4), steps_per_epoch=3, epochs=1, verbose=0,
        validation_data=_batches(X_VAL, [Y_VAL, Y_VAL], 4), validation_steps=3,
        callbacks=[EpochMetrics()], get_predict=True)
    expected = _expected()['val_f1_macro']
    assert history.history['val_head_0_f1_macro'] == pytest.approx([expected], rel=1e-5)
    assert history.history['val_head_1_f1_macro'] == pytest.approx([expected], rel=1e-5)
    assert 'val_f1_macro' not in history.history


def test_one_of_several_outputs_chosen_by_name(installed):
    model = _frozen_model(outputs=2)
    history = model.fit(X_VAL, [Y_VAL, Y_VAL], epochs=1, verbose=0,
                        validation_data=(X_VAL, [Y_VAL, Y_VAL]),
                        callbacks=[EpochMetrics(outputs='head_1')], get_predict=True)
    assert history.history['val_f1_macro'] == pytest.approx([_expected()['val_f1_macro']],
                                                            rel=1e-5)


def test_unknown_output_name_raises_naming_the_outputs(installed):
    with pytest.raises(ValueError, match=r"\['nope'\].*\['head_0'\]"):
        _fit(_frozen_model(), [EpochMetrics(outputs='nope')], epochs=1)


def test_wrong_class_names_raise_naming_the_output(installed):
    with pytest.raises(ValueError, match=r"Output 'head_0'.*should list 3 names"):
        _fit(_frozen_model(), [EpochMetrics(class_names=['a', 'b'])], epochs=1)


def test_clash_with_a_keras_metric_name_raises(installed):
    # A Keras metric named like one of ours: EpochMetrics refuses to overwrite it.
    def f1_macro(y_true, y_pred):
        return y_pred[:, 0]
    model = _frozen_model()
    model.compile(SGD(lr=0.0), 'categorical_crossentropy', metrics=[f1_macro])
    with pytest.raises(ValueError, match=r"\['val_f1_macro'\].*`prefix`"):
        _fit(model, [EpochMetrics()], epochs=1)
    history = _fit(model, [EpochMetrics(prefix='val_sk_')], epochs=1)
    assert history.history['val_sk_f1_macro'] == pytest.approx(
        [_expected()['val_f1_macro']], rel=1e-5)


def test_asks_for_capture_itself_without_get_predict(installed):
    # No `get_predict` on the call: EpochMetrics asks for its output, and the
    # metrics are those of the frozen model on the whole validation set.
    model = _frozen_model()
    metrics = EpochMetrics()
    history = model.fit(X_VAL, Y_VAL, epochs=2, verbose=0, validation_data=(X_VAL, Y_VAL),
                        callbacks=[metrics])
    expected = skm.f1_score(Y_VAL.argmax(1), model.predict(X_VAL).argmax(1), average='macro')
    assert history.history['val_f1_macro'] == pytest.approx([expected] * 2)
    assert metrics.get_predict is True


def test_docs_document_every_logged_key():
    from keras_getpredict.analysis.class_metrics import SCALAR_NAMES
    with open(os.path.join(ROOT, 'docs', 'callbacks.md')) as f:
        readme = f.read()
    assert [n for n in SCALAR_NAMES if '`val_%s`' % n not in readme] == []
    from keras_getpredict.callbacks.epoch_metrics import PER_CLASS_NAMES
    assert '`val_{%s}_<class>`' % ','.join(PER_CLASS_NAMES) in readme


def f1_macro(y_true, y_pred):
    """A compile metric Keras logs as `f1_macro`/`val_f1_macro` (its function name),
    another quantity than EpochMetrics' F1 under the same key: here the accuracy."""
    from support.stack import metrics
    return metrics.categorical_accuracy(y_true, y_pred)


def test_a_key_keras_logs_for_another_quantity_raises_before_training(installed):
    model = _frozen_model()
    model.compile(SGD(lr=0.0), 'categorical_crossentropy', metrics=[f1_macro])
    assert 'f1_macro' in model.metrics_names
    batches = []
    with pytest.raises(ValueError, match=r"would write \['val_f1_macro'\].*another "
                                         r"quantity.*prefix"):
        _fit(model, [EpochMetrics(), LambdaCallback(
            on_batch_begin=lambda batch, logs: batches.append(batch))])
    assert batches == []  # at `on_train_begin`: not one batch trained
    # Another prefix: both numbers side by side.
    history = _fit(model, [EpochMetrics(prefix='val_sk_')], epochs=1)
    assert history.history['val_sk_f1_macro'] == pytest.approx([_expected()['val_f1_macro']])
    assert history.history['val_f1_macro'] == pytest.approx([_expected()['val_accuracy']])


def test_compile_accuracy_works_on_every_release_and_keeps_keras_value(installed):
    # `metrics=['accuracy']`: Keras 2.3 logs `val_accuracy`, the same quantity as
    # EpochMetrics' (argmax accuracy of the whole validation set): Keras' value stays,
    # nothing raises. Keras 2.2 and tf.keras log `val_acc`: both keys, the same number.
    from keras_getpredict.core import families
    model = _frozen_model()
    model.compile(SGD(lr=0.0), 'categorical_crossentropy', metrics=['accuracy'])
    keras_name = 'val_' + families.family_of(model).accuracy_name
    assert keras_name[len('val_'):] in model.metrics_names
    history = _fit(model, [EpochMetrics()])
    expected = [_expected()['val_accuracy']] * 2
    assert history.history[keras_name] == pytest.approx(expected)
    assert history.history['val_accuracy'] == pytest.approx(expected)
    assert history.history['val_f1_macro'] == pytest.approx([_expected()['val_f1_macro']] * 2)


def test_compile_accuracy_with_another_threshold_is_another_quantity(installed):
    # Keras' accuracy thresholds binary and multilabel outputs at 0.5; with another
    # `threshold` EpochMetrics' accuracy is another quantity (taken so before training,
    # when the task is not known yet).
    from keras_getpredict.core import families
    model = _frozen_model()
    model.compile(SGD(lr=0.0), 'categorical_crossentropy', metrics=['accuracy'])
    if families.family_of(model).accuracy_name != 'accuracy':
        pytest.skip("this Keras logs `val_acc`: no key in common")
    with pytest.raises(ValueError, match=r"would write \['val_accuracy'\]"):
        _fit(model, [EpochMetrics(threshold=0.9)])
