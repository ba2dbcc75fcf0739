"""Prediction files: atomic `.npz` writes, read back with `allow_pickle=False`."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from support.stack import validation_rows

from keras_getpredict import GtsAndPreds
from keras_getpredict.callbacks import EpochMetrics, PredictionSaver
from keras_getpredict.analysis.atomic_files import write_npz_atomic
from keras_getpredict.analysis.files import load_predictions, save_predictions
from support.models import frozen_dense


def _two_output_predictions():
    # Two batches; output 'b' has no targets (like Mask R-CNN's detection outputs).
    a_true = [np.eye(3)[[0, 1]], np.eye(3)[[2]]]
    a_pred = [np.array([[.8, .1, .1], [.2, .7, .1]]), np.array([[.1, .1, .8]])]
    b_pred = [np.arange(4.).reshape(2, 2), np.arange(2.).reshape(1, 2)]
    return GtsAndPreds(['a', 'b'], y_true=[[a_true[0], None], [a_true[1], None]],
                       y_pred=[[a_pred[0], b_pred[0]], [a_pred[1], b_pred[1]]],
                       inputs={'image': [np.ones((2, 4)), np.zeros((1, 4))]})


def test_round_trip_without_pickle(tmpdir):
    path = str(tmpdir.join('p.npz'))
    metrics = EpochMetrics(task={'a': 'multiclass'}, class_names={'a': ['x', 'y', 'z']})
    save_predictions(path, _two_output_predictions(), epoch=3, metrics=metrics,
                     logs={'val_loss': np.float32(0.25), 'val_f1_macro': 0.5, 'lr': 1,
                           'val_gts_and_preds': 'skipped', 'note': 'not a number'},
                     include_inputs=True)
    with np.load(path, allow_pickle=False) as data:
        assert 'y_true/b' not in data.files
        assert data['y_pred/a'].dtype == np.float64
    loaded = load_predictions(path)
    assert loaded.epoch == 3
    assert loaded.output_names == ['a', 'b']
    np.testing.assert_array_equal(loaded.y_true['a'], np.eye(3))
    np.testing.assert_array_equal(loaded.y_pred['a'], [[.8, .1, .1], [.2, .7, .1], [.1, .1, .8]])
    np.testing.assert_array_equal(loaded.y_pred['b'], [[0, 1], [2, 3], [0, 1]])
    assert sorted(loaded.y_true) == ['a']
    np.testing.assert_array_equal(loaded.inputs['image'], [[1] * 4, [1] * 4, [0] * 4])
    assert loaded.settings['a'] == {'task': 'multiclass', 'threshold': 0.5,
                                    'class_names': ['x', 'y', 'z']}
    assert dict(loaded.logs) == {'lr': 1.0, 'val_f1_macro': 0.5, 'val_loss': 0.25}


def test_object_arrays_are_refused_before_anything_is_written(tmpdir):
    path = str(tmpdir.join('p.npz'))
    with pytest.raises(TypeError, match="'ragged' has dtype object"):
        write_npz_atomic(path, {'ragged': np.array([np.zeros(2), np.zeros(3)], dtype=object)})
    assert os.listdir(str(tmpdir)) == []


def test_interrupted_write_leaves_the_previous_file_intact(tmpdir, monkeypatch):
    path = str(tmpdir.join('p.npz'))
    write_npz_atomic(path, {'y': np.arange(5)})

    def dies_half_way(f, **arrays):
        f.write(b'PK\x03\x04 half a zip file')
        raise KeyboardInterrupt

    monkeypatch.setattr(np, 'savez_compressed', dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        write_npz_atomic(path, {'y': np.arange(1000)})
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data['y'], np.arange(5))
    assert os.listdir(str(tmpdir)) == ['p.npz']  # no temporary file left behind


def test_killed_writer_never_leaves_a_corrupt_file(tmpdir):
    # A process rewriting one file in a loop, killed with SIGKILL at some moment:
    # the path holds a whole earlier version, whatever the moment.
    path = str(tmpdir.join('p.npz'))
    script = textwrap.dedent('''
        import sys
        import numpy as np
        from keras_getpredict.analysis.atomic_files import write_npz_atomic
        data = np.random.RandomState(0).rand(200000)
        i = 0
        while True:
            write_npz_atomic(sys.argv[1], {'i': np.int64(i), 'data': data + i})
            i += 1
            if i == 2:
                print('ready', flush=True)
    ''')
    child = subprocess.Popen([sys.executable, '-c', script, path], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b'ready'
        time.sleep(0.3)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    with np.load(path, allow_pickle=False) as data:
        i = int(data['i'])
        assert i >= 1
        np.testing.assert_array_equal(data['data'],
                                      np.random.RandomState(0).rand(200000) + i)


def _frozen_model():
    return frozen_dense([[2., 0.], [0., 1.]], 'softmax', 'categorical_crossentropy')


def test_saver_writes_one_file_per_epoch_with_the_model_predictions(installed, tmpdir):
    x = np.random.RandomState(2).rand(7, 2).astype('float32')
    y = np.eye(2, dtype='float32')[[0, 1, 1, 0, 1, 0, 0]]
    metrics = EpochMetrics(class_names=['no', 'yes'])
    saver = PredictionSaver(str(tmpdir.join('e{epoch:02d}_{val_f1_macro:.2f}.npz')), metrics)
    model = _frozen_model()
    history = model.fit(x, y, batch_size=3, epochs=2, verbose=0, validation_data=(x, y),
                        callbacks=[saver, metrics], get_predict=True)
    f1 = history.history['val_f1_macro'][0]
    names = sorted(os.listdir(str(tmpdir)))
    assert names == ['e01_%.2f.npz' % f1, 'e02_%.2f.npz' % f1]
    assert saver.saved == [str(tmpdir.join(n)) for n in names]
    loaded = load_predictions(saver.saved[1])
    assert loaded.epoch == 2
    name = loaded.output_names[0]
    rows = validation_rows(loaded.y_pred[name], model.predict(x), rtol=1e-6)
    np.testing.assert_array_equal(loaded.y_true[name], y[rows])
    # EpochMetrics ran from the publisher hook, so its scalars are in this epoch's file
    # although the saver stands first.
    assert loaded.logs['val_f1_macro'] == pytest.approx(f1)
    assert loaded.settings[loaded.output_names[0]]['class_names'] == ['no', 'yes']


def test_a_failing_epoch_keeps_earlier_epoch_files(installed, tmpdir, monkeypatch):
    x = np.ones((4, 2), 'float32')
    y = np.eye(2, dtype='float32')[[0, 1, 0, 1]]
    saver = PredictionSaver(str(tmpdir.join('e{epoch}.npz')))
    real_savez = np.savez_compressed
    calls = []

    def second_write_crashes(f, **arrays):
        calls.append(1)
        if len(calls) == 2:
            f.write(b'garbage')
            raise MemoryError('simulated crash while writing')
        return real_savez(f, **arrays)

    monkeypatch.setattr(np, 'savez_compressed', second_write_crashes)
    with pytest.raises(MemoryError):
        _frozen_model().fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
                            callbacks=[saver], get_predict=True)
    assert sorted(os.listdir(str(tmpdir))) == ['e1.npz']
    assert load_predictions(str(tmpdir.join('e1.npz'))).epoch == 1


def test_not_a_predictions_file(tmpdir):
    path = str(tmpdir.join('other.npz'))
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a keras-getpredict predictions file"):
        load_predictions(path)


def test_filepath_naming_a_missing_key_raises_before_writing(installed, tmpdir):
    x = np.ones((4, 2), 'float32')
    y = np.eye(2, dtype='float32')[[0, 1, 0, 1]]
    saver = PredictionSaver(str(tmpdir.join('e{epoch}_{val_f1:.2f}.npz')))
    with pytest.raises(ValueError, match=r"names 'val_f1'.*val_loss"):
        _frozen_model().fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
                            callbacks=[saver], get_predict=True)
    assert os.listdir(str(tmpdir)) == []
