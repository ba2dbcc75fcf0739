"""`TensorBoardPredictions` writes TensorBoard's own PR-curve and image summaries."""
import numpy as np
import pytest
import tensorflow as tf
from support.stack import Dense, Input, Model, SGD, TensorBoard, tensorboard_tag
from tensorboard.backend.event_processing import event_accumulator

from keras_getpredict.callbacks import EpochMetrics, TensorBoardPredictions
from support.models import frozen_dense

RNG = np.random.RandomState(1)
X_VAL = RNG.rand(12, 3).astype('float32')
LABELS = np.array([0, 1, 2] * 4)
Y_VAL = np.eye(3, dtype='float32')[LABELS]


def _frozen_model():
    return frozen_dense(5 * np.eye(3), 'softmax', 'categorical_crossentropy', name='probs')


def _read(log_dir):
    accumulator = event_accumulator.EventAccumulator(
        log_dir, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0})
    accumulator.Reload()
    return accumulator


def test_event_files_hold_pr_curves_and_confusion_matrix_images(installed, tmpdir):
    log_dir = str(tmpdir.join('tb'))
    metrics = EpochMetrics(class_names=['cat', 'dog', 'bird'])
    _frozen_model().fit(X_VAL, Y_VAL, batch_size=5, epochs=2, verbose=0,
                        validation_data=(X_VAL, Y_VAL), get_predict=True,
                        callbacks=[TensorBoard(log_dir, write_graph=False), metrics,
                                   TensorBoardPredictions(log_dir, metrics, num_thresholds=11)])
    accumulator = _read(log_dir)
    pr_tags = sorted(accumulator.PluginTagToContent('pr_curves'))
    assert pr_tags == ['class_bird/pr_curves', 'class_cat/pr_curves', 'class_dog/pr_curves']
    # TensorBoard's PR data: rows TP, FP, TN, FN, precision, recall; one column per
    # threshold. At threshold 0 every sample is predicted positive.
    events = accumulator.Tensors('class_dog/pr_curves')
    assert [e.step for e in events] == [0, 1]
    data = tf.make_ndarray(events[-1].tensor_proto)
    assert data.shape == (6, 11)
    assert data[0, 0] == np.sum(LABELS == 1) and data[1, 0] == np.sum(LABELS != 1)
    scores = np.exp(5 * X_VAL[:, 1]) / np.exp(5 * X_VAL).sum(1)
    above_half = scores >= 0.5
    assert data[0, 5] == np.sum(above_half & (LABELS == 1))
    assert data[1, 5] == np.sum(above_half & (LABELS != 1))

    assert list(accumulator.PluginTagToContent('images')) == ['confusion_matrix/image_summary']
    image_events = accumulator.Tensors('confusion_matrix/image_summary')
    assert [e.step for e in image_events] == [0, 1]
    width, height, png = tf.make_ndarray(image_events[0].tensor_proto)
    assert png.startswith(b'\x89PNG') and int(width) > 100 and int(height) > 100
    # TensorBoard's own scalars from the same run sit next to them.
    assert tensorboard_tag('val_f1_macro') in accumulator.Tags()['scalars']


def test_without_metrics_argument_uses_defaults_and_only_pr_curves(installed, tmpdir):
    log_dir = str(tmpdir)
    _frozen_model().fit(X_VAL, Y_VAL, epochs=1, verbose=0, validation_data=(X_VAL, Y_VAL),
                        get_predict=True,
                        callbacks=[TensorBoardPredictions(log_dir, confusion_matrix=False)])
    accumulator = _read(log_dir)
    assert sorted(accumulator.PluginTagToContent('pr_curves')) == [
        'class_0/pr_curves', 'class_1/pr_curves', 'class_2/pr_curves']
    with pytest.raises(KeyError):
        accumulator.PluginTagToContent('images')


def test_bad_arguments():
    with pytest.raises(TypeError, match='`metrics`'):
        TensorBoardPredictions('logs', metrics='f1')
    with pytest.raises(ValueError, match='`num_thresholds`'):
        TensorBoardPredictions('logs', num_thresholds=1)


def test_several_outputs_are_tagged_by_output_name(installed, tmpdir):
    x = Input((3,))
    heads = [Dense(3, use_bias=False, activation='softmax', name=name,
                   kernel_initializer=lambda shape, dtype=None: 5 * np.eye(3))(x)
             for name in ('left', 'right')]
    model = Model(x, heads)
    model.compile(SGD(lr=0.0), 'categorical_crossentropy')
    log_dir = str(tmpdir)
    model.fit(X_VAL, [Y_VAL, Y_VAL], epochs=1, verbose=0, get_predict=True,
              validation_data=(X_VAL, [Y_VAL, Y_VAL]),
              callbacks=[TensorBoardPredictions(log_dir, EpochMetrics(class_names=list('abc')))])
    accumulator = _read(log_dir)
    assert sorted(accumulator.PluginTagToContent('pr_curves')) == sorted(
        '%s/class_%s/pr_curves' % (out, c) for out in ('left', 'right') for c in 'abc')
    assert sorted(accumulator.PluginTagToContent('images')) == [
        'left/confusion_matrix/image_summary', 'right/confusion_matrix/image_summary']
