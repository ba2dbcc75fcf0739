"""The reducing mode through fit_generator/fit/evaluate*: counts from the same session
run as the validation loss, exact against scikit-learn, whatever the generator does
with its buffers, and `ReduceMetrics` scalars in History and TensorBoard."""
import glob

import numpy as np
import pytest
from support.paths import ROOT
from support.stack import (K, Conv2D, Dense, Input, Model, SGD, TensorBoard, standalone_only,
                           tensorboard_tag)
from sklearn import metrics as skm
from tensorboard.backend.event_processing import event_accumulator

from keras_getpredict.analysis.class_metrics import auc_error_bound
from keras_getpredict.callbacks import ReduceMetrics
from keras_getpredict.core.results import LOGS_KEY
from keras_getpredict.core.reduce_counts import is_reduced

C = 3
RNG = np.random.RandomState(0)
# 10 images of 4x5 pixels, 3 channels; the model is softmax(5 * x) per pixel with
# frozen weights, so each pixel's predicted class is argmax over its channels.
X = RNG.rand(10, 4, 5, C).astype('float32')
LABELS = RNG.randint(0, C, (10, 4, 5))
REDUCE = {'reduce': {'num_classes': C, 'bins': 50, 'on_graph': False}}
GRAPH = {'reduce': {'num_classes': C, 'bins': 50, 'on_graph': True}}
BOTH = pytest.mark.parametrize('reduce', [REDUCE, GRAPH], ids=['numpy', 'graph'])


def _pixel_model():
    x = Input((4, 5, C), name='x')
    y = Conv2D(C, 1, use_bias=False, activation='softmax', name='seg',
               kernel_initializer=lambda shape, dtype=None: 5 * np.eye(C).reshape(shape))(x)
    model = Model(x, y)
    model.compile(SGD(lr=0.0), 'sparse_categorical_crossentropy')
    return model


def _reusing_generator(y, size=4):
    """Yields every batch in the SAME two arrays, refilled in place (as many
    generators do): only a reducer that counts before the next batch gets it right.
    Used with `workers=0`: a prefetching thread would refill them under Keras too."""
    xb = np.empty((size,) + X.shape[1:], 'float32')
    yb = np.empty((size,) + y.shape[1:], y.dtype)
    while True:
        for i in range(0, len(X), size):
            n = min(size, len(X) - i)
            xb[:n], yb[:n] = X[i:i + n], y[i:i + n]
            yield xb[:n], yb[:n]


def _expected_confusion():
    return skm.confusion_matrix(LABELS.ravel(), X.argmax(-1).ravel(), labels=range(C))


@BOTH
def test_fit_generator_publishes_exact_counts_with_reused_buffers(installed, reduce):
    model = _pixel_model()
    seen = []

    class Keep(ReduceMetrics):
        def on_predictions_published(self, epoch, logs):
            seen.append(logs[LOGS_KEY])
            super(Keep, self).on_predictions_published(epoch, logs)

    history = model.fit_generator(
        _reusing_generator(LABELS[..., None].astype('float32')), steps_per_epoch=3,
        epochs=2, validation_data=_reusing_generator(LABELS[..., None].astype('float32')),
        validation_steps=3, callbacks=[Keep(class_names=['a', 'b', 'c'])], verbose=0,
        workers=0, get_predict=reduce)
    assert len(seen) == 2 and seen[0] is not seen[1]
    for counts in seen:
        assert is_reduced(counts) and counts.batches == 3
        np.testing.assert_array_equal(counts['seg'].confusion, _expected_confusion())
    y, p = LABELS.ravel(), X.argmax(-1).ravel()
    iou = skm.jaccard_score(y, p, average=None)
    assert history.history['val_mean_iou'] == pytest.approx([iou.mean()] * 2)
    assert history.history['val_iou_b'] == pytest.approx([iou[1]] * 2)
    assert history.history['val_count_accuracy'][0] == pytest.approx(
        skm.accuracy_score(y, p))
    scores = (lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True))(5 * X)
    exact = skm.roc_auc_score(y == 2, scores[..., 2].ravel())
    bound = auc_error_bound(seen[0]['seg'].positives[2], seen[0]['seg'].negatives[2])
    assert abs(history.history['val_roc_auc_c'][0] - exact) <= bound + 1e-12
    # The full predictions are not kept anywhere: only counts were published.
    assert LOGS_KEY not in history.history or \
        all(is_reduced(v) for v in history.history[LOGS_KEY])


@BOTH
def test_evaluate_generator_and_evaluate_return_counts_with_one_hot_targets(installed, reduce):
    model = _pixel_model()
    one_hot = np.eye(C, dtype='float32')[LABELS]
    # The loss stock Keras reports for the same generator (2.2.4 averages the batches
    # by size; 2.3.1's `evaluate_generator` reports the last batch's loss).
    stock = model.evaluate_generator(
        _reusing_generator(LABELS[..., None].astype('float32')), steps=3, workers=0)
    loss, counts = model.evaluate_generator(
        _reusing_generator(LABELS[..., None].astype('float32')), steps=3, workers=0,
        get_predict=reduce)
    assert loss == pytest.approx(stock)
    np.testing.assert_array_equal(counts['seg'].confusion, _expected_confusion())
    model2 = Model(model.inputs, model.outputs)
    model2.compile(SGD(lr=0.0), 'categorical_crossentropy')
    _, counts = model2.evaluate(X, one_hot, batch_size=3, verbose=0, get_predict=reduce)
    np.testing.assert_array_equal(counts['seg'].confusion, _expected_confusion())
    assert counts.batches == 4 and counts['seg'].positives.sum() == X[..., 0].size


def test_fit_on_arrays_and_tensorboard_sees_per_class_iou(installed, tmpdir):
    x = Input((C,), name='x')
    y = Dense(C, use_bias=False, activation='softmax', name='cls',
              kernel_initializer=lambda shape, dtype=None: 5 * np.eye(C))(x)
    model = Model(x, y)
    model.compile(SGD(lr=0.0), 'sparse_categorical_crossentropy')
    xs, labels = X.reshape(-1, C), LABELS.ravel()
    history = model.fit(xs, labels, batch_size=16, epochs=1, verbose=0,
                        validation_data=(xs, labels), get_predict=REDUCE,
                        callbacks=[TensorBoard(str(tmpdir)), ReduceMetrics()])
    iou = skm.jaccard_score(labels, xs.argmax(-1), average=None)
    assert history.history['val_iou_0'] == pytest.approx([iou[0]])
    # The folder, not one file: tf.keras' TensorBoard also writes an empty profile file.
    events = event_accumulator.EventAccumulator(str(tmpdir))
    events.Reload()
    assert events.Scalars(tensorboard_tag('val_iou_2'))[0].value == pytest.approx(iou[2], rel=1e-6)


@pytest.mark.parametrize('on_graph', [False, True])
def test_binary_output_with_one_unit(installed, on_graph):
    x = Input((1,), name='x')
    y = Dense(1, activation='sigmoid', name='p', kernel_initializer='ones',
              bias_initializer='zeros')(x)
    model = Model(x, y)
    model.compile(SGD(lr=0.0), 'binary_crossentropy')
    xs = RNG.randn(40, 1).astype('float32')
    labels = (RNG.rand(40, 1) < 0.5).astype('float32')
    _, counts = model.evaluate(xs, labels, batch_size=8, verbose=0,
                               get_predict={'reduce': {'num_classes': 2, 'threshold': 0.7,
                                                       'on_graph': on_graph}})
    predicted = 1 / (1 + np.exp(-xs)) >= 0.7
    np.testing.assert_array_equal(counts['p'].confusion, skm.confusion_matrix(
        labels.ravel(), predicted.ravel(), labels=[0, 1]))


def test_callbacks_on_the_wrong_kind_of_capture_say_so(installed):
    model = _pixel_model()
    gen = _reusing_generator(LABELS[..., None].astype('float32'))
    with pytest.raises(ValueError, match="needs the reducing mode's counts"):
        model.fit_generator(gen, 1, epochs=1, validation_data=gen, validation_steps=1,
                            callbacks=[ReduceMetrics()], verbose=0, workers=0,
                            get_predict=True)
    # Two class names ask for 2 classes; the call asks for 3: refused before training.
    with pytest.raises(ValueError, match=r"different reducing specs \('num_classes'\).*"
                                         r"`get_predict`: 3; ReduceMetrics.*: 2"):
        model.fit_generator(gen, 1, epochs=1, validation_data=gen, validation_steps=1,
                            callbacks=[ReduceMetrics(class_names=['a', 'b'])], verbose=0,
                            workers=0, get_predict=REDUCE)


@pytest.mark.parametrize('labels_as', ['integer', 'one_hot'])
def test_graph_and_numpy_counts_are_identical_with_ties_and_ignored_labels(installed,
                                                                           labels_as):
    rng = np.random.RandomState(7)
    # Few distinct values: argmax ties and scores on bin edges; label 7 is ignored.
    xs = rng.randint(0, 3, (12, 4, 5, C)).astype('float32') / 2.
    labels = rng.choice([0, 1, 2, 7], (12, 4, 5))
    x = Input((4, 5, C))
    model = Model(x, Conv2D(C, 1, use_bias=False, activation='softmax',
                            kernel_initializer=lambda shape, dtype=None:
                            np.eye(C).reshape(shape))(x))
    if labels_as == 'one_hot':
        targets = np.zeros((12, 4, 5, C), 'float32')
        valid = labels < C
        targets[valid, labels[valid]] = 1  # ignored pixels: all-zero rows count as class 0
        model.compile(SGD(lr=0.0), 'categorical_crossentropy')
    else:
        targets = labels[..., None].astype('float32')

        def any_labels(y_true, y_pred):
            # A user loss: Keras neither checks the target shape nor the labels.
            return K.mean(y_pred)
        model.compile(SGD(lr=0.0), any_labels)
    results = []
    for on_graph in (False, True):
        _, counts = model.evaluate(xs, targets, batch_size=5, verbose=0, get_predict={
            'reduce': {'num_classes': C, 'bins': 8, 'on_graph': on_graph}})
        results.append(list(counts.values())[0])
    numpy_counts, graph_counts = results
    for field in ('confusion', 'positives', 'negatives', 'ignored'):
        np.testing.assert_array_equal(getattr(graph_counts, field),
                                      getattr(numpy_counts, field))
    assert numpy_counts.ignored == (0 if labels_as == 'one_hot' else np.sum(labels == 7))


@standalone_only  # examples/segmentation.py imports standalone Keras
def test_segmentation_example_logs_per_class_iou(tmpdir):
    import os
    import subprocess
    import sys
    # This checkout's keras_getpredict, whatever the venv has installed.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    out = subprocess.check_output(
        [sys.executable, os.path.join(ROOT, 'examples', 'segmentation.py'), '--epochs', '1',
         '--logdir', str(tmpdir)], stderr=subprocess.STDOUT, env=env).decode()
    assert 'IoU disc' in out and 'confusion matrix over 65536 validation pixels' in out
    events = event_accumulator.EventAccumulator(glob.glob(str(tmpdir.join('events*')))[0])
    events.Reload()
    assert 'val_iou_square' in events.Tags()['scalars']


def test_prediction_saver_stores_counts_and_report_reads_them_without_keras(installed,
                                                                            tmpdir):
    import json
    import os
    import subprocess
    import sys
    from keras_getpredict.analysis.files import load_predictions
    from keras_getpredict.callbacks import PredictionSaver
    model = _pixel_model()
    gen = _reusing_generator(LABELS[..., None].astype('float32'))
    model.fit_generator(gen, 1, epochs=1, validation_data=gen, validation_steps=3,
                        workers=0, verbose=0, get_predict=REDUCE,
                        callbacks=[ReduceMetrics(), PredictionSaver(
                            str(tmpdir.join('epoch_{epoch}.npz')))])
    path = str(tmpdir.join('epoch_1.npz'))
    loaded = load_predictions(path)
    np.testing.assert_array_equal(loaded.counts['seg'].confusion, _expected_confusion())
    assert loaded.counts.batches == 3 and loaded.counts.spec.bins == 50
    assert 'val_mean_iou' in loaded.logs
    child = ('import json, sys\nfrom keras_getpredict.__main__ import main\nmain(["report", '
             '%r])\nprint("IMPORTED " + json.dumps("keras" in sys.modules or '
             '"tensorflow" in sys.modules))' % path)
    out = subprocess.check_output([sys.executable, '-c', child],
                                  env=dict(os.environ)).decode()
    assert 'mean IoU %.4f' % skm.jaccard_score(
        LABELS.ravel(), X.argmax(-1).ravel(), average='macro') in out
    assert json.loads(out.split('IMPORTED ')[-1]) is False


def test_tensorboard_counts_writes_exact_pr_curve_counts(installed, tmpdir):
    from tensorboard.plugins.pr_curve import metadata
    from keras_getpredict.callbacks import TensorBoardCounts
    model = _pixel_model()
    gen = _reusing_generator(LABELS[..., None].astype('float32'))
    model.fit_generator(gen, 1, epochs=1, validation_data=gen, validation_steps=3,
                        workers=0, verbose=0, get_predict=GRAPH,
                        callbacks=[TensorBoardCounts(str(tmpdir), ['a', 'b', 'c'])])
    events = event_accumulator.EventAccumulator(
        glob.glob(str(tmpdir.join('events*.counts')))[0], size_guidance={'tensors': 0})
    events.Reload()
    # TensorFlow's own reader of the proto (tensorboard 1.12 has no tensorboard.util.tensor_util).
    import tensorflow as tf
    data = tf.make_ndarray(events.Tensors('class_b/pr_curves')[0].tensor_proto)
    scores = (lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True))(5 * X)[..., 1].ravel()
    binned = np.minimum((scores.astype('float32') * np.float32(50)).astype(int), 49)
    tp = data[metadata.TRUE_POSITIVES_INDEX]
    assert len(tp) == 51
    for k in (0, 10, 25, 49):
        assert tp[k] == np.sum((binned >= k) & (LABELS.ravel() == 1))


def test_former_callback_name_is_the_same_class():
    # `StreamingMetrics` (0.1 and 0.2.0) is kept as an alias for one release.
    from keras_getpredict.callbacks import StreamingMetrics
    assert StreamingMetrics is ReduceMetrics
    assert ReduceMetrics(num_classes=3).get_predict == StreamingMetrics(num_classes=3).get_predict
