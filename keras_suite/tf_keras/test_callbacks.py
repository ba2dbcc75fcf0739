"""tf.keras 1.15's own callbacks in a `fit` that validates: what each one writes.

The gate runs these stock, installed and forced (`get_predict=True` on every call
that validates, so the epoch logs hold a non-scalar entry): each callback must step
over it and write exactly what it writes on stock tf.keras.
"""
import csv
import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from .conftest import HookCounts, data, generator, small_mlp


def _fit(callbacks, epochs=2, **kwargs):
    x, y = data()
    model = small_mlp()
    history = model.fit(x, y, batch_size=5, epochs=epochs, validation_data=(x[:10], y[:10]),
                        callbacks=callbacks, verbose=0, **kwargs)
    return model, history


def test_history_keeps_scalars():
    _, history = _fit([])
    assert sorted(history.history) == ['acc', 'loss', 'val_acc', 'val_loss']
    assert all(np.isscalar(v) or np.ndim(v) == 0
               for values in history.history.values() for v in values)


@pytest.mark.parametrize('append,separator', [(False, ','), (True, ';')])
def test_csv_logger(tmpdir, append, separator):
    path = str(tmpdir.join('log.csv'))
    _fit([keras.callbacks.CSVLogger(path, separator=separator, append=append)])
    if append:
        _fit([keras.callbacks.CSVLogger(path, separator=separator, append=append)])
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=separator))
    assert rows[0] == ['epoch', 'acc', 'loss', 'val_acc', 'val_loss']
    assert len(rows) == (5 if append else 3)


def _event_tags(log_dir):
    tags = set()
    for path in glob.glob(os.path.join(log_dir, '**', 'events.out.tfevents.*'), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.add(value.tag)
    return tags


@pytest.mark.parametrize('update_freq', ['epoch', 'batch'])
def test_tensorboard_v1_scalars_and_histograms(tmpdir, update_freq):
    log_dir = str(tmpdir)
    _fit([keras.callbacks.TensorBoard(log_dir, histogram_freq=1, write_grads=True,
                                      update_freq=update_freq)])
    tags = _event_tags(log_dir)
    assert {'epoch_val_loss', 'epoch_val_acc'} <= tags, sorted(tags)
    assert any(tag.startswith('dense') and tag.endswith('_0') for tag in tags)
    assert not any('gts_and_preds' in tag for tag in tags)


def test_tensorboard_v2_class_in_graph_mode(tmpdir):
    log_dir = str(tmpdir)
    _fit([tf.compat.v2.keras.callbacks.TensorBoard(log_dir)])
    assert glob.glob(os.path.join(log_dir, '**', 'events.out.tfevents.*'), recursive=True)


def test_model_checkpoint_best_only_and_path_format(tmpdir):
    pattern = str(tmpdir.join('weights.{epoch:02d}-{val_loss:.4f}.h5'))
    _fit([keras.callbacks.ModelCheckpoint(pattern, monitor='val_loss', save_best_only=True)],
         epochs=3)
    saved = sorted(os.path.basename(p) for p in glob.glob(str(tmpdir.join('*.h5'))))
    assert saved and saved[0].startswith('weights.01-')


def test_early_stopping_restores_best_weights():
    stopper = keras.callbacks.EarlyStopping(monitor='val_loss', patience=0, min_delta=10.,
                                            restore_best_weights=True)
    _, history = _fit([stopper], epochs=5)
    assert len(history.history['val_loss']) == 2
    assert stopper.stopped_epoch == 1


def test_reduce_lr_on_plateau():
    reducer = keras.callbacks.ReduceLROnPlateau(monitor='val_loss', patience=0,
                                                min_delta=10., factor=0.5)
    model, _ = _fit([reducer], epochs=3)
    np.testing.assert_allclose(keras.backend.get_value(model.optimizer.lr), 0.01 * 0.25,
                               rtol=1e-5)


def test_learning_rate_scheduler_and_terminate_on_nan():
    model, history = _fit([keras.callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1)),
                           keras.callbacks.TerminateOnNaN()])
    np.testing.assert_allclose(keras.backend.get_value(model.optimizer.lr), 0.05, rtol=1e-5)
    assert len(history.history['loss']) == 2


def test_lambda_callback_sees_validation_scalars():
    seen = []
    _fit([keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(logs['val_loss']))])
    assert len(seen) == 2 and all(np.isfinite(seen))


def test_remote_monitor_stock_type_error(monkeypatch):
    # Stock tf.keras 1.15 sends numpy floats to json.dumps and fails on them
    # (callbacks.py, RemoteMonitor.on_epoch_end); the outcome must stay that one.
    requests = pytest.importorskip('requests')
    monkeypatch.setattr(requests, 'post', lambda *args, **kwargs: None)
    with pytest.raises(TypeError, match='JSON serializable'):
        _fit([keras.callbacks.RemoteMonitor()])


def test_fit_generator_callbacks_hook_counts():
    x, y = data()
    counts = HookCounts()
    small_mlp().fit_generator(generator(x, y, 5), steps_per_epoch=4, epochs=2,
                              validation_data=generator(x, y, 5), validation_steps=2,
                              callbacks=[counts], verbose=0)
    assert counts.counts['on_test_batch_end'] == 4
    assert counts.counts['on_epoch_end'] == 2
    # (Forced, the epoch logs also hold `val_gts_and_preds`: that is the capture.)
    assert [k for k in counts.epoch_keys[0] if k != 'val_gts_and_preds'] == \
        ['acc', 'loss', 'val_acc', 'val_loss']
