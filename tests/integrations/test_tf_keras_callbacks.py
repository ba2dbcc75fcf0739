"""keras-getpredict's own callbacks in a tf.keras 1.15 `fit`: one instance runs in
either stack (`families.callback_base`), asks for its capture itself, and
writes what it writes on standalone Keras.
"""
import numpy as np
import pytest

from keras_getpredict.core import families

if families.unavailable(families.TF_KERAS) is not None:
    pytest.skip(families.unavailable(families.TF_KERAS), allow_module_level=True)

from sklearn import metrics as skm  # noqa: E402
from tensorflow import keras as tfk  # noqa: E402

import keras_getpredict  # noqa: E402
from keras_getpredict.callbacks import (EpochMetrics, PredictionSaver,  # noqa: E402
                                        ReduceMetrics)
from keras_getpredict.analysis.files import load_predictions  # noqa: E402

# Three classes, scores = x (a frozen identity layer): the prediction is computable by hand.
X = np.array([[.7, .2, .1], [.1, .8, .1], [.2, .3, .5], [.6, .3, .1], [.3, .3, .4],
              [.1, .1, .8], [.5, .4, .1], [.2, .7, .1]], dtype=np.float32)
LABELS = np.array([0, 1, 2, 1, 2, 2, 0, 0])
Y = np.eye(3, dtype=np.float32)[LABELS]


@pytest.fixture(autouse=True)
def tf_installed():
    tfk.backend.clear_session()
    keras_getpredict.install(target=families.TF_KERAS)
    yield
    tfk.backend.clear_session()


def identity_model():
    model = tfk.Sequential([tfk.layers.Dense(3, input_shape=(3,), use_bias=False,
                                             kernel_initializer='identity')])
    model.compile(tfk.optimizers.SGD(learning_rate=0.), 'categorical_crossentropy')
    return model


class Logs(tfk.callbacks.Callback):
    def __init__(self):
        super(Logs, self).__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(dict(logs or {}))


def test_our_callbacks_derive_from_one_base_with_both_stacks_hooks():
    base = families.callback_base()
    assert issubclass(EpochMetrics, base) and issubclass(ReduceMetrics, base)
    for hook in ('on_train_batch_begin', 'on_test_batch_end', 'on_predict_end'):
        assert callable(getattr(EpochMetrics(task='multiclass'), hook))


def test_epoch_metrics_in_a_tf_keras_fit_equal_scikit_learn():
    logs = Logs()
    identity_model().fit(X, Y, batch_size=3, epochs=2, validation_data=(X, Y), verbose=0,
                         callbacks=[EpochMetrics(task='multiclass'), logs])
    predicted = X.argmax(1)
    for epoch in logs.epochs:
        assert epoch['val_accuracy'] == pytest.approx(skm.accuracy_score(LABELS, predicted))
        assert epoch['val_f1_macro'] == pytest.approx(
            skm.f1_score(LABELS, predicted, average='macro'))
        assert 'val_gts_and_preds' in epoch  # asked for by EpochMetrics itself


def test_reduce_metrics_in_a_tf_keras_fit_generator_count_the_confusion():
    logs = Logs()

    def batches():
        while True:
            for start in range(0, len(X), 3):
                yield X[start:start + 3], Y[start:start + 3]
    identity_model().fit_generator(batches(), 3, epochs=1, validation_data=batches(),
                                   validation_steps=3, verbose=0,
                                   callbacks=[ReduceMetrics(num_classes=3), logs])
    predicted = X.argmax(1)
    assert logs.epochs[0]['val_count_accuracy'] == pytest.approx(
        skm.accuracy_score(LABELS, predicted))
    expected_iou = skm.jaccard_score(LABELS, predicted, average=None)
    assert logs.epochs[0]['val_mean_iou'] == pytest.approx(expected_iou.mean())


def test_prediction_saver_in_a_tf_keras_fit_writes_aligned_files(tmpdir):
    path = str(tmpdir.join('epoch_{epoch:02d}.npz'))
    identity_model().fit(X, Y, batch_size=3, epochs=1, validation_data=(X, Y), verbose=0,
                         callbacks=[PredictionSaver(path)])
    saved = load_predictions(str(tmpdir.join('epoch_01.npz')))
    (name,) = saved.output_names
    y_pred, y_true = saved.y_pred[name], saved.y_true[name]
    # Stock tf.keras shuffles validation arrays in `fit`: rows in any order, but each
    # y_true beside its own y_pred (y_pred is the input row itself).
    order = np.lexsort(y_pred.T[::-1])
    expected = np.lexsort(X.T[::-1])
    np.testing.assert_allclose(y_pred[order], X[expected], rtol=1e-6)
    np.testing.assert_array_equal(y_true[order], Y[expected])


@pytest.mark.parametrize('method', ['fit', 'fit_generator'])
def test_batch_predictions_in_a_tf_keras_fit_records_every_training_batch(method):
    from keras_getpredict import BatchPredictions
    # y_pred = x0 + x1 (a frozen all-ones kernel), y_true = that + 1: both by hand.
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = x.sum(1, keepdims=True) + 1.
    model = tfk.Sequential([tfk.layers.Dense(1, input_shape=(2,), use_bias=False,
                                             kernel_initializer='ones')])
    model.compile(tfk.optimizers.SGD(learning_rate=0.), 'mse')
    recorder = BatchPredictions(keep='all')
    if method == 'fit':
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, callbacks=[recorder],
                  verbose=0)
    else:
        def batches():
            while True:
                for start in range(0, 10, 4):
                    yield x[start:start + 4], y[start:start + 4]
        model.fit_generator(batches(), 3, epochs=2, callbacks=[recorder], verbose=0)
    assert [(r['epoch'], r['batch']) for r in recorder.records] == \
        [(e, b) for e in range(2) for b in range(3)]
    for record in recorder.records:
        rows = slice(4 * record['batch'], 4 * record['batch'] + 4)
        np.testing.assert_allclose(record['y_pred'], x[rows].sum(1, keepdims=True))
        np.testing.assert_allclose(record['y_true'], y[rows])


def _tags(log_dir):
    import glob
    import os
    import tensorflow as tf
    tags = set()
    for path in glob.glob(os.path.join(log_dir, 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_tensorboard_pictures_and_counts_in_a_tf_keras_fit(tmpdir):
    from keras_getpredict.callbacks import TensorBoardCounts, TensorBoardPredictions
    pictures, counts = str(tmpdir.join('pictures')), str(tmpdir.join('counts'))
    identity_model().fit(X, Y, batch_size=3, epochs=1, validation_data=(X, Y), verbose=0,
                         callbacks=[TensorBoardPredictions(pictures)])
    identity_model().fit(X, Y, batch_size=3, epochs=1, validation_data=(X, Y), verbose=0,
                         callbacks=[ReduceMetrics(num_classes=3, bins=10),
                                    TensorBoardCounts(counts)])
    per_class = {'class_%d/pr_curves' % k for k in range(3)}
    assert per_class | {'confusion_matrix/image_summary'} <= _tags(pictures)
    assert per_class <= _tags(counts)
