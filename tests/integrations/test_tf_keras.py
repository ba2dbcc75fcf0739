"""`get_predict` on TensorFlow 1.15's own tf.keras (graph mode, v1 loops).

Models from `tensorflow.keras` whose outputs are computed by hand (`support/hand_data.py`'s
kernel: column 0 of the prediction names the sample), through `install(target='tf.keras')`.
Skipped where this TensorFlow's tf.keras is not one keras_getpredict supports.
"""
import csv
import glob
import inspect
import os
import re
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from keras_getpredict.core import families

if families.unavailable(families.TF_KERAS) is not None:
    pytest.skip(families.unavailable(families.TF_KERAS), allow_module_level=True)

import tensorflow as tf  # noqa: E402
from tensorflow import keras as tfk  # noqa: E402

import keras_getpredict  # noqa: E402
from keras_getpredict.core.recording import RecordingFunction  # noqa: E402
from keras_getpredict.core.reduce_counts import is_reduced  # noqa: E402
from keras_getpredict.core.results import LOGS_KEY  # noqa: E402
from keras_getpredict.patching.install import is_native  # noqa: E402
from support.hand_data import (KERNEL, N_FEATURES, batches, expected_output,  # noqa: E402
                               index_of, make_data)

TARGET = families.TF_KERAS


@pytest.fixture(autouse=True)
def tf_keras_session():
    """tf.keras keeps its own session: a fresh one per test."""
    tfk.backend.clear_session()
    yield
    tfk.backend.clear_session()


@pytest.fixture
def tf_installed():
    keras_getpredict.install(target=TARGET)
    yield


def linear_model():
    """tf.keras: one input, one output `dense` = x @ KERNEL, weights frozen (lr 0)."""
    model = tfk.Sequential([tfk.layers.Dense(2, input_shape=(N_FEATURES,), use_bias=False,
                                             name='dense')])
    model.layers[0].set_weights([KERNEL])
    model.compile(tfk.optimizers.SGD(learning_rate=0.), 'mse', metrics=['mae'])
    return model


class Published(tfk.callbacks.Callback):
    """Keeps each epoch's predictions entry (or None) and the logs' keys."""

    def __init__(self, get_predict=None):
        super(Published, self).__init__()
        if get_predict is not None:
            self.get_predict = get_predict
        self.entries, self.keys = [], []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.entries.append(logs.get(LOGS_KEY))
        self.keys.append(sorted(logs))


def check_aligned(entry, x, y, in_order=True, first=0):
    """Every validation sample once (`x[i, 0] == first + i`), `y_true` and `y_pred` of
    the same sample."""
    y_pred = np.concatenate(entry['y_pred'])
    y_true = np.concatenate(entry['y_true'])
    index = index_of(y_pred) - first
    if in_order:
        np.testing.assert_array_equal(index, np.arange(len(x)))
    else:
        # Stock tf.keras shuffles validation arrays inside `fit`: a permutation.
        np.testing.assert_array_equal(np.sort(index), np.arange(len(x)))
    np.testing.assert_allclose(y_pred, expected_output(x[index]), rtol=1e-6)
    np.testing.assert_array_equal(y_true, y[index])


def test_fit_generator_captures_each_epoch_aligned_with_val_loss(tf_installed):
    x, y = make_data(12)
    xv, yv = make_data(12, seed=1)
    model = linear_model()
    published = Published()
    # workers=0: Keras validates on the generator's batches in its order.
    history = model.fit_generator(batches(x, y, 4), steps_per_epoch=3, epochs=2, verbose=0,
                                  validation_data=batches(xv, yv, 4), validation_steps=3,
                                  callbacks=[published], get_predict=True, workers=0)
    assert len(published.entries) == 2
    for epoch, entry in enumerate(published.entries):
        assert len(entry['y_pred']) == 3
        check_aligned(entry, xv, yv)
        # The same forward pass as Keras' own val_loss (equal batches: the mean).
        y_pred = np.concatenate(entry['y_pred'])
        assert history.history['val_loss'][epoch] == pytest.approx(
            np.mean((y_pred - yv) ** 2), rel=1e-5)
    assert LOGS_KEY not in history.history
    check_aligned(history.val_gts_and_preds, xv, yv)
    assert not isinstance(model.test_function, RecordingFunction)


def test_fit_generator_with_a_worker_thread_captures_what_keras_validated(tf_installed):
    x, y = make_data(12)
    model = linear_model()
    published = Published()
    history = model.fit_generator(batches(x, y, 4), steps_per_epoch=3, epochs=2, verbose=0,
                                  validation_data=batches(x, y, 4), validation_steps=3,
                                  callbacks=[published], get_predict=True, workers=1)
    for epoch, entry in enumerate(published.entries):
        # The enqueuer's thread reads ahead: whole batches, any order.
        check_aligned(entry, x, y, in_order=False)
        y_pred, y_true = np.concatenate(entry['y_pred']), np.concatenate(entry['y_true'])
        assert history.history['val_loss'][epoch] == pytest.approx(
            np.mean((y_pred - y_true) ** 2), rel=1e-5)


@pytest.mark.parametrize('validation', ['data', 'split'])
def test_fit_on_arrays_captures_by_the_window(tf_installed, validation):
    x, y = make_data(16)
    model = linear_model()
    published = Published()
    if validation == 'data':
        xv, yv = make_data(12, seed=1)
        arguments, first = {'validation_data': (xv, yv)}, 0
    else:
        # Keras validates on the last half of the arrays.
        xv, yv = x[8:], y[8:]
        arguments, first = {'validation_split': 0.5}, 8
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[published],
                        get_predict=True, **arguments)
    for epoch, entry in enumerate(published.entries):
        assert len(entry['y_pred']) == len(xv) // 4
        check_aligned(entry, xv, yv, in_order=False, first=first)
    assert len(published.entries) == 2
    assert history.history['val_loss'][0] == pytest.approx(
        np.mean((expected_output(xv) - yv) ** 2), rel=1e-5)


def test_fit_on_a_generator_captures(tf_installed):
    x, y = make_data(8)
    xv, yv = make_data(8, seed=1)
    model = linear_model()
    published = Published()
    model.fit(batches(x, y, 4), steps_per_epoch=2, epochs=2, verbose=0,
              validation_data=batches(xv, yv, 4), validation_steps=2,
              callbacks=[published], get_predict=True, workers=0)
    assert len(published.entries) == 2
    for entry in published.entries:
        check_aligned(entry, xv, yv)


def test_validation_freq_publishes_only_on_validated_epochs(tf_installed):
    # tf.keras-only: `validation_freq=2` validates after epochs 2 and 4.
    x, y = make_data(8)
    model = linear_model()
    published = Published()
    model.fit(x, y, batch_size=4, epochs=4, verbose=0, validation_data=(x, y),
              validation_freq=2, callbacks=[published], get_predict=True)
    assert [entry is None for entry in published.entries] == [True, False, True, False]
    for entry in published.entries[1::2]:
        check_aligned(entry, x, y, in_order=False)


def test_a_dataset_as_validation_data_is_captured(tf_installed):
    # A Dataset has no `len`: tf.keras' own rule (`if validation_data:`) says it
    # validates, and its targets reach the test function as symbolic feeds.
    x, y = make_data(8)
    model = linear_model()
    published = Published()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=dataset,
              validation_steps=2, callbacks=[published], get_predict=True)
    assert len(published.entries) == 2
    for entry in published.entries:
        check_aligned(entry, x, y)


def test_no_validation_data_is_refused_naming_this_call(tf_installed):
    x, y = make_data(4)
    model = linear_model()
    with pytest.raises(ValueError, match=r'needs validation data.*`fit` was called from '
                                         + re.escape(__file__)):
        model.fit(x, y, verbose=0, get_predict=True)
    with pytest.raises(ValueError, match='needs validation data'):
        model.fit_generator(batches(x, y, 4), steps_per_epoch=1, verbose=0, get_predict=True)


def test_evaluate_and_evaluate_generator_return_metrics_and_predictions(tf_installed):
    x, y = make_data(10)
    model = linear_model()
    stock = model.evaluate(x, y, batch_size=4, verbose=0)
    metrics, preds = model.evaluate(x, y, batch_size=4, verbose=0, get_predict=True)
    assert metrics == pytest.approx(stock)
    assert [len(p) for p in preds['y_pred']] == [4, 4, 2]
    check_aligned(preds, x, y)
    stock = model.evaluate_generator(batches(x, y, 5), steps=2, workers=0)
    metrics, preds = model.evaluate_generator(batches(x, y, 5), steps=2, workers=0,
                                              get_predict=True)
    assert metrics == pytest.approx(stock)
    check_aligned(preds, x, y)
    assert not isinstance(model.test_function, RecordingFunction)
    # With the flag off, the very stock result.
    assert model.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(stock)


def two_in_two_out_model():
    """tf.keras: inputs `a`, `b`; outputs `sum` = a @ KERNEL + b and `double` = 2b."""
    a = tfk.Input((N_FEATURES,), name='a')
    b = tfk.Input((1,), name='b')
    dense = tfk.layers.Dense(2, use_bias=False, name='proj')
    summed = tfk.layers.Add(name='sum')([dense(a), tfk.layers.Concatenate()([b, b])])
    double = tfk.layers.Lambda(lambda t: 2. * t, name='double')(b)
    model = tfk.Model([a, b], [summed, double])
    dense.set_weights([KERNEL])
    return model


def test_per_output_targets_selection_and_an_output_without_target(tf_installed):
    # tf.keras has no `model.targets`: each output's target is its training endpoint's.
    x, y = make_data(10)
    b = np.linspace(-1, 1, 10).astype('float32')[:, None]
    y_double = np.random.RandomState(4).uniform(size=(10, 1)).astype('float32')
    model = two_in_two_out_model()
    model.compile(tfk.optimizers.SGD(learning_rate=0.), ['mse', 'mse'])
    _, preds = model.evaluate([x, b], [y, y_double], batch_size=6, verbose=0,
                              get_predict={'outputs': ['sum', 'double'], 'inputs': ['b']})
    assert preds.output_names == ['sum', 'double']
    for k, (y_true, y_pred) in enumerate(zip(preds['y_true'], preds['y_pred'])):
        rows = slice(0, 6) if k == 0 else slice(6, 10)
        np.testing.assert_allclose(y_pred[0], expected_output(x[rows]) + b[rows], atol=1e-5)
        np.testing.assert_allclose(y_pred[1], 2 * b[rows], atol=1e-6)
        np.testing.assert_array_equal(y_true[0], y[rows])
        np.testing.assert_array_equal(y_true[1], y_double[rows])
        np.testing.assert_array_equal(preds['inputs']['b'][k], b[rows])
    model.compile(tfk.optimizers.SGD(learning_rate=0.), ['mse', None])  # no target
    _, preds = model.evaluate([x, b], [y], batch_size=10, verbose=0, get_predict=True)
    np.testing.assert_array_equal(preds['y_true'][0][0], y)
    assert preds['y_true'][0][1] is None
    _, preds = model.evaluate([x, b], [y], batch_size=10, verbose=0, get_predict='double')
    assert preds['y_true'] == [None]
    np.testing.assert_allclose(preds['y_pred'][0], 2 * b)


def test_a_callback_asks_for_capture_itself(tf_installed):
    x, y = make_data(8)
    model = linear_model()
    asking = Published(get_predict=True)
    model.fit_generator(batches(x, y, 4), steps_per_epoch=2, epochs=1, verbose=0,
                        validation_data=batches(x, y, 4), validation_steps=2,
                        callbacks=[asking], workers=0)
    check_aligned(asking.entries[0], x, y)


@pytest.mark.skipif(is_native(), reason='on the fork, `capturing` opens its blocks in the '
                                        "fork's core, which the tf.keras patch does not read")
def test_a_capturing_block_adds_its_callbacks_to_a_tf_keras_fit(tf_installed):
    x, y = make_data(8)
    model = linear_model()
    asking = Published(get_predict=True)
    with keras_getpredict.capturing(callbacks=[asking]):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, validation_data=(x, y))
    check_aligned(asking.entries[0], x, y, in_order=False)


@pytest.mark.parametrize('on_graph', [False, True], ids=['numpy', 'graph'])
def test_the_reducing_mode_counts_on_tf_keras(tf_installed, on_graph):
    classes = 3
    rng = np.random.RandomState(0)
    x = rng.rand(20, classes).astype('float32')
    labels = rng.randint(0, classes, 20)
    # softmax(5 x): the predicted class is x's argmax.
    model = tfk.Sequential([tfk.layers.Dense(classes, input_shape=(classes,), use_bias=False,
                                             activation='softmax', name='cls')])
    model.layers[0].set_weights([5 * np.eye(classes, dtype='float32')])
    model.compile(tfk.optimizers.SGD(learning_rate=0.), 'sparse_categorical_crossentropy')
    expected = np.zeros((classes, classes), np.int64)
    np.add.at(expected, (labels, x.argmax(-1)), 1)
    reduce = {'reduce': {'num_classes': classes, 'bins': 10, 'on_graph': on_graph}}
    _, counts = model.evaluate(x, labels, batch_size=8, verbose=0, get_predict=reduce)
    assert is_reduced(counts) and counts.batches == 3
    np.testing.assert_array_equal(counts['cls'].confusion, expected)
    published = Published()
    model.fit_generator(batches(x, labels, 5), steps_per_epoch=4, epochs=2, verbose=0,
                        validation_data=batches(x, labels, 5), validation_steps=4,
                        callbacks=[published], get_predict=reduce, workers=0)
    for counts in published.entries:
        assert is_reduced(counts) and counts.batches == 4
        np.testing.assert_array_equal(counts['cls'].confusion, expected)


def test_the_sample_weight_rebuild_keeps_capturing(tf_installed):
    # Training with sample weights, validating without: tf.keras rebuilds the test
    # function for the other sample-weight mode in the middle of the call.
    x, y = make_data(8)
    xv, yv = make_data(8, seed=1)
    weights = np.linspace(0.5, 2., 8).astype('float32')
    model = linear_model()
    published = Published()
    model.fit(x, y, sample_weight=weights, batch_size=4, epochs=2, verbose=0,
              validation_data=(xv, yv), callbacks=[published], get_predict=True)
    assert len(published.entries) == 2
    for entry in published.entries:
        check_aligned(entry, xv, yv, in_order=False)

    def weighted(x, y, w, size):
        while True:
            for start in range(0, len(x), size):
                yield x[start:start + size], y[start:start + size], w[start:start + size]

    published = Published()
    model.fit_generator(weighted(x, y, weights, 4), steps_per_epoch=2, epochs=2, verbose=0,
                        validation_data=batches(xv, yv, 4), validation_steps=2,
                        callbacks=[published], get_predict=True, workers=0)
    assert len(published.entries) == 2
    for entry in published.entries:
        check_aligned(entry, xv, yv)
    # Whatever Keras rebuilt, a stock function is left on the model.
    assert not isinstance(model.test_function, RecordingFunction)
    assert model.evaluate(xv, yv, verbose=0) == pytest.approx(
        [np.mean((expected_output(xv) - yv) ** 2),
         np.mean(np.abs(expected_output(xv) - yv))], rel=1e-5)


def _run_with_stock_callbacks(directory, get_predict):
    # A graph of its own: TensorBoard merges every summary of the graph.
    tfk.backend.clear_session()
    x, y = make_data(8)
    xv, yv = make_data(8, seed=1)
    model = linear_model()
    os.makedirs(directory)
    callbacks = [
        tfk.callbacks.CSVLogger(os.path.join(directory, 'log.csv')),
        tfk.callbacks.TensorBoard(os.path.join(directory, 'tb'), histogram_freq=2),
        # (not save_best_only: the frozen model's val_loss differs from epoch to epoch
        # only by the summation order of the shuffled validation batches)
        tfk.callbacks.ModelCheckpoint(os.path.join(directory, 'w-{epoch}-{val_loss:.4f}.h5')),
        tfk.callbacks.EarlyStopping(monitor='val_loss', patience=5),
    ]
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, validation_data=(xv, yv),
                        callbacks=callbacks, get_predict=get_predict)
    with open(os.path.join(directory, 'log.csv')) as f:
        rows = list(csv.reader(f))
    histograms = 0
    for path in glob.glob(os.path.join(directory, 'tb', 'events*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            histograms += sum(1 for value in event.summary.value if value.HasField('histo'))
    checkpoints = sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, '*.h5')))
    return history, rows, histograms, checkpoints


def test_tf_keras_own_callbacks_step_over_the_entry(tf_installed, tmpdir):
    stock = _run_with_stock_callbacks(str(tmpdir.join('stock')), False)
    ours = _run_with_stock_callbacks(str(tmpdir.join('ours')), True)
    history, rows, histograms, checkpoints = ours
    # History keeps the last epoch's predictions as an attribute, not per epoch.
    assert sorted(history.history) == sorted(stock[0].history)
    check_aligned(history.val_gts_and_preds, *make_data(8, seed=1), in_order=False)
    # CSVLogger: the same columns and rows (no predictions column).
    assert rows[0] == stock[1][0] and len(rows) == len(stock[1]) == 4
    # TensorBoard v1 wrote its histograms on the due epochs only (0 and 2), as stock.
    assert histograms == stock[2] and histograms > 0
    # ModelCheckpoint formatted its paths from the logs; EarlyStopping read val_loss.
    assert checkpoints == stock[3] and len(checkpoints) == 3


def test_remote_monitor_is_not_sent_the_predictions(tf_installed, monkeypatch):
    # `requests` (which RemoteMonitor posts with) stands in as a recorder.
    from tensorflow.python.keras import callbacks as tf_callbacks
    sent = []
    monkeypatch.setattr(tf_callbacks, 'requests', types.SimpleNamespace(
        post=lambda url, **kwargs: sent.append(kwargs),
        exceptions=types.SimpleNamespace(RequestException=OSError)))
    monitor = tfk.callbacks.RemoteMonitor(send_as_json=True)
    logs = {'val_loss': 0.5, LOGS_KEY: {'y_true': [np.zeros(2)], 'y_pred': [np.ones(2)]}}
    monitor.on_epoch_end(0, logs)
    assert sent == [{'json': {'epoch': 0, 'val_loss': 0.5}, 'headers': monitor.headers}]
    assert LOGS_KEY in logs  # the other callbacks still see it


def test_eager_execution_is_refused_with_the_supported_mode():
    script = textwrap.dedent('''
        import numpy as np
        import tensorflow as tf
        tf.compat.v1.enable_v2_behavior()
        from tensorflow import keras as tfk
        import keras_getpredict
        keras_getpredict.install(target='tf.keras')
        model = tfk.Sequential([tfk.layers.Dense(2, input_shape=(3,))])
        model.compile('sgd', 'mse')
        x, y = np.zeros((4, 3), 'float32'), np.zeros((4, 2), 'float32')
        for call in (lambda: model.fit(x, y, validation_data=(x, y), verbose=0,
                                       get_predict=True),
                     lambda: model.evaluate(x, y, verbose=0, get_predict=True)):
            try:
                call()
            except ValueError as e:
                print('REFUSED', e)
        model.fit(x, y, validation_data=(x, y), verbose=0)  # stock, flag off
        print('STOCK RAN')
    ''')
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(keras_getpredict.__file__)))] +
        [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, '-c', script], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=environment, universal_newlines=True)
    assert done.returncode == 0, done.stderr[-3000:]
    refused = [line for line in done.stdout.splitlines() if line.startswith('REFUSED')]
    assert len(refused) == 2, done.stdout
    for line in refused:
        assert 'graph mode with the v1 training loops' in line
        assert 'eager execution is on' in line
    assert 'STOCK RAN' in done.stdout


@pytest.mark.monkeypatch_only
def test_each_target_patches_its_stack_only(monkeypatch):
    keras = pytest.importorskip('keras')
    from keras.engine import training
    keras_getpredict.uninstall()
    standalone_fit, tf_fit = vars(training.Model)['fit'], vars(tfk.Model)['fit']
    keras_getpredict.install(target='keras')
    assert vars(training.Model)['fit'] is not standalone_fit and vars(tfk.Model)['fit'] is tf_fit
    assert not keras_getpredict.is_installed(TARGET)
    keras_getpredict.install()  # the other stack joins
    assert vars(tfk.Model)['fit'] is not tf_fit
    keras_getpredict.uninstall('keras')
    assert vars(training.Model)['fit'] is standalone_fit and vars(tfk.Model)['fit'] is not tf_fit
    keras_getpredict.uninstall()
    # A stack that cannot be patched is left stock (one warning line), the other patched.
    monkeypatch.setattr(keras, '__version__', '2.0.8')
    with pytest.warns(UserWarning, match=r"left keras stock .*found Keras 2\.0\.8"):
        keras_getpredict.install()
    assert keras_getpredict.is_installed(TARGET) and not keras_getpredict.is_installed('keras')
    assert vars(tfk.Model)['fit'] is not tf_fit
    keras_getpredict.uninstall()
    assert vars(training.Model)['fit'] is standalone_fit and vars(tfk.Model)['fit'] is tf_fit


def test_install_target_and_the_tf_keras_internals():
    keras_getpredict.uninstall()
    assert families.for_stack(TARGET).missing_internals() == []
    fit = vars(tfk.Model)['fit']
    keras_getpredict.install(target=TARGET)
    assert keras_getpredict.is_installed(TARGET)
    assert vars(tfk.Model)['fit'] is not fit
    for name in ('fit', 'fit_generator', 'evaluate', 'evaluate_generator'):
        parameters = inspect.signature(getattr(tfk.Model, name)).parameters
        assert parameters['get_predict'].default is False
    keras_getpredict.uninstall(TARGET)
    assert vars(tfk.Model)['fit'] is fit and not keras_getpredict.is_installed(TARGET)
    with pytest.raises(ValueError, match="`target` should be 'keras' or 'tf.keras' or None"):
        keras_getpredict.install(target='tensorflow.keras')
