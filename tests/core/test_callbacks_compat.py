"""Keras' own callbacks meet the predictions entry and behave as before."""
import csv
import glob
import os
import re

import numpy as np
import pytest
from support.stack import (CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau,
                           TensorBoard, tensorboard_tag)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import keras_getpredict
from support.handmade import ArraySequence, linear_model, make_data

pytestmark = pytest.mark.usefixtures('installed')


def scalar_tags(logdir):
    events = EventAccumulator(logdir)
    events.Reload()
    return events, set(events.Tags()['scalars'])


def test_three_epochs_with_keras_callbacks(tmpdir):
    x, y = make_data(24)
    vx, vy = make_data(10, seed=1)
    logdir = str(tmpdir.join('tb'))
    csv_path = str(tmpdir.join('log.csv'))
    ckpt = str(tmpdir.join('w.{epoch:02d}-{val_loss:.3f}.h5'))
    model = linear_model()
    history = model.fit_generator(
        ArraySequence(x, y, 8), epochs=3, verbose=0,
        validation_data=ArraySequence(vx, vy, 4),
        callbacks=[TensorBoard(logdir), CSVLogger(csv_path), ModelCheckpoint(ckpt),
                   EarlyStopping(monitor='val_loss', patience=5),
                   ReduceLROnPlateau(monitor='val_loss')],
        get_predict=True)

    # History: scalars per epoch, no per-epoch copies of the predictions.
    assert history.epoch == [0, 1, 2]
    assert keras_getpredict.LOGS_KEY not in history.history
    # The metric as Keras names it (`mean_absolute_error` on 2.2.4, `mae` on 2.3.1).
    metric = model.metrics_names[1]
    assert sorted(history.history) == sorted(['loss', 'lr', metric, 'val_loss',
                                              'val_' + metric])
    assert len(history.val_gts_and_preds['y_pred']) == 3  # last epoch only

    # CSVLogger: a row per epoch, no prediction column.
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert keras_getpredict.LOGS_KEY not in rows[0]
    assert float(rows[2]['val_loss']) == pytest.approx(history.history['val_loss'][2])

    # TensorBoard: the scalars as before, nothing for the predictions.
    events, tags = scalar_tags(logdir)
    assert {tensorboard_tag(k) for k in ('loss', 'val_loss', 'val_' + metric)} <= tags
    assert tensorboard_tag(keras_getpredict.LOGS_KEY) not in tags
    written = [e.value for e in events.Scalars(tensorboard_tag('val_loss'))]
    np.testing.assert_allclose(written, history.history['val_loss'], rtol=1e-6)

    # ModelCheckpoint formatted its names from the same logs.
    assert len(glob.glob(str(tmpdir.join('w.*.h5')))) == 3


def test_tensorboard_writes_scalars_exactly_as_stock(tmpdir):
    # Numpy scalars, as Keras logs them (Python numbers: the next test).
    logs = {'loss': np.float32(0.5), 'val_loss': np.array(0.25), 'acc': np.int64(1),
            keras_getpredict.LOGS_KEY: {'y_true': [np.zeros(2)], 'y_pred': [np.zeros(2)]},
            'per_class': np.arange(3.)}
    model = linear_model()
    tensorboard = TensorBoard(str(tmpdir))
    tensorboard.set_model(model)
    tensorboard.on_epoch_end(0, logs)
    tensorboard.on_train_end(None)
    events, tags = scalar_tags(str(tmpdir))
    assert tags == {tensorboard_tag(k) for k in ('loss', 'val_loss', 'acc')}
    assert events.Scalars(tensorboard_tag('val_loss'))[0].value == 0.25


def tensorboard_outcome(logdir, logs):
    """What `TensorBoard.on_epoch_end` makes of `logs`: the scalars written, by tag,
    or the error it raised."""
    tensorboard = TensorBoard(logdir)
    tensorboard.set_model(linear_model())
    try:
        tensorboard.on_epoch_end(0, logs)
    except Exception as error:  # noqa: BLE001 - compared with stock's
        return type(error), str(error)
    finally:
        tensorboard.on_train_end(None)
    events, tags = scalar_tags(logdir)
    return {tag: [e.value for e in events.Scalars(tag)] for tag in tags}


def test_tensorboard_python_numbers_fare_as_with_stock(tmpdir):
    """Python numbers in the logs: written as stock writes them (Keras 2.2), or failing
    as stock fails on them (Keras 2.1's `TensorBoard` calls `.item()` on each value);
    the predictions entry beside them changes nothing."""
    scalars = {'loss': np.float32(0.5), 'acc': 1, 'lr': 0.125}
    keras_getpredict.uninstall()
    stock = tensorboard_outcome(str(tmpdir.join('stock')), dict(scalars))
    keras_getpredict.install()
    ours = tensorboard_outcome(str(tmpdir.join('ours')), dict(scalars, **{
        keras_getpredict.LOGS_KEY: {'y_true': [np.zeros(2)], 'y_pred': [np.zeros(2)]}}))
    assert ours == stock


def normalized_progress(text):
    # Runs differ only in timings and in how many intermediate (ETA) updates the
    # bar drew, so compare the final state of every line with times masked.
    text = text.replace('\b', '')
    segments = [s for s in re.split(r'[\r\n]', text) if s.strip() and 'ETA' not in s]
    return [re.sub(r'\d+(\.\d+)?(m|u)?s(/step)?', 'T', s) for s in segments]


@pytest.mark.parametrize('verbose', [1, 2])
def test_progress_output_unchanged(capsys, verbose):
    x, y = make_data(16)
    outputs = []
    for get_predict in (False, True):
        model = linear_model()
        model.fit_generator(ArraySequence(x, y, 4), epochs=2, verbose=verbose,
                            validation_data=ArraySequence(x, y, 4), get_predict=get_predict)
        outputs.append(normalized_progress(capsys.readouterr().out))
    assert any('val_loss' in line for line in outputs[0])
    assert outputs[0] == outputs[1]


def test_history_memory_stays_flat_over_epochs():
    x, y = make_data(64)
    model = linear_model()
    history = model.fit_generator(ArraySequence(x, y, 16), epochs=6, verbose=0,
                                  validation_data=ArraySequence(x, y, 16), get_predict=True)
    assert all(not isinstance(v[0], dict) for v in history.history.values())
    kept = [history.val_gts_and_preds]
    assert sum(a.nbytes for a in kept[0]['y_pred']) == 64 * 2 * 4


def test_csvlogger_appends_to_an_existing_file_without_new_column(tmpdir):
    x, y = make_data(8)
    path = str(tmpdir.join('log.csv'))
    model = linear_model()
    model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[CSVLogger(path)])
    model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
              callbacks=[CSVLogger(path, append=True)], get_predict=True)
    with open(path) as f:
        lines = f.read().splitlines()
    metric = model.metrics_names[1]  # `mean_absolute_error` on 2.2.4, `mae` on 2.3.1
    assert lines[0] == 'epoch,loss,%s,val_loss,val_%s' % (metric, metric)
    assert len(lines) == 3 and all(len(line.split(',')) == 5 for line in lines)
    assert os.path.getsize(path) < 1000
