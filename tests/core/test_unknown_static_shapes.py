"""Outputs whose TensorFlow static shape does not know the class axis (issue 22): every
`keras_segmentation` model ends in `Reshape((h * w, -1))` then softmax, and Keras knows
`(None, 64, 3)` where TensorFlow has `(?, 64, ?)`. Each capture mode works there, exact
against numpy, and a `num_classes` that does not fit is a `ValueError` before training
(Keras knows the axis) or at the first validation batch (nobody does).
"""
import numpy as np
import pytest
import tensorflow as tf
from support.stack import (K, TF_KERAS, Activation, Conv2D, Input, Lambda, LambdaCallback, Model,
                           Reshape, SGD)

import keras_getpredict
from keras_getpredict.callbacks import BatchPredictions, ReduceMetrics
from keras_getpredict.core.failures import STRICT_ENV

C = 3
RNG = np.random.RandomState(5)
X = RNG.rand(8, 4, 4, C).astype('float32')
LABELS = RNG.randint(0, C, (8, 16))
ONE_HOT = np.eye(C, dtype='float32')[LABELS]
# The 1x1 convolution is 5 * identity: pixel scores are softmax(5 * x).
KERNEL = 5 * np.eye(C, dtype='float32').reshape(1, 1, C, C)


def _reshape_minus_one(t):
    return Reshape((16, -1))(t)


def _lambda_keras_knows(t):
    return Lambda(lambda v: tf.reshape(v, tf.stack([tf.shape(v)[0], 16, tf.shape(v)[-1]])),
                  output_shape=(16, C))(t)


def _lambda_nobody_knows(t):
    return Lambda(lambda v: tf.reshape(v, tf.stack([tf.shape(v)[0], 16, tf.shape(v)[-1]])),
                  output_shape=(16, None))(t)


HEADS = {'Reshape -1': _reshape_minus_one, 'Lambda, Keras knows': _lambda_keras_knows,
         'tf.shape reshape, nobody knows': _lambda_nobody_knows}
each_head = pytest.mark.parametrize('head', sorted(HEADS))


def _model(head):
    image = Input((4, 4, C))
    conv = Conv2D(C, 1, use_bias=False, name='conv')
    scores = Activation('softmax', name='seg')(HEADS[head](conv(image)))
    model = Model(image, scores)
    conv.set_weights([KERNEL])
    model.compile(SGD(lr=0.), 'categorical_crossentropy')
    return model


def _expected_scores():
    z = 5 * X.reshape(8, 16, C)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _confusion():
    predicted = X.reshape(8, 16, C).argmax(-1)
    confusion = np.zeros((C, C), int)
    np.add.at(confusion, (LABELS.ravel(), predicted.ravel()), 1)
    return confusion


@each_head
def test_the_static_shape_is_as_the_issue_says(head):
    model = _model(head)
    assert model.outputs[0].shape.as_list()[-1] is None
    assert K.int_shape(model.outputs[0])[-1] == (C if keras_knows(head) else None)


def keras_knows(head):
    # tf.keras keeps no shape of its own: its `int_shape` is TensorFlow's static shape.
    return 'nobody' not in head and not TF_KERAS


@each_head
@pytest.mark.parametrize('on_graph', [True, False], ids=['graph', 'numpy'])
def test_reducing_mode_counts_exactly(installed, head, on_graph):
    model = _model(head)
    spec = {'reduce': {'num_classes': C, 'bins': 10, 'on_graph': on_graph}}
    _, counts = model.evaluate(X, ONE_HOT, batch_size=3, verbose=0, get_predict=spec)
    np.testing.assert_array_equal(counts['seg'].confusion, _confusion())
    # Through fit_generator and the callback that asks for the reducing mode itself.
    history = model.fit(X, ONE_HOT, batch_size=4, epochs=1, verbose=0,
                        validation_data=(X, ONE_HOT),
                        callbacks=[ReduceMetrics(num_classes=C, bins=10)])
    accuracy = np.trace(_confusion()) / float(LABELS.size)
    assert history.history['val_count_accuracy'] == pytest.approx([accuracy])


@each_head
def test_full_capture_and_batch_predictions_hold_the_outputs(installed, head):
    model = _model(head)
    _, preds = model.evaluate(X, ONE_HOT, batch_size=3, verbose=0, get_predict=True)
    flat = keras_getpredict.concat_batches(preds)
    np.testing.assert_allclose(flat['y_pred'], _expected_scores(), rtol=1e-5)
    np.testing.assert_array_equal(flat['y_true'], ONE_HOT)
    batches = BatchPredictions(keep='all')
    model.fit(X, ONE_HOT, batch_size=3, epochs=1, verbose=0, shuffle=False,
              callbacks=[batches])
    flat = keras_getpredict.concat_batches(batches.gts_and_preds())
    np.testing.assert_allclose(flat['y_pred'], _expected_scores(), rtol=1e-5)
    np.testing.assert_array_equal(flat['y_true'], ONE_HOT)


@pytest.mark.parametrize('head', ['Reshape -1', 'Lambda, Keras knows'])
def test_a_num_classes_keras_can_check_is_refused_before_training(installed, head,
                                                                  monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)  # not ours to swallow, strict or not
    model = _model(head)
    counted = []
    # Where Keras knows no more than TensorFlow (tf.keras), the data tells, at the first
    # validation batch, as for the next test.
    before = keras_knows(head)
    with pytest.raises(ValueError, match=(r"Output 'seg'.*" if before else '') +
                       r"\['num_classes'\]` is 4 but the output has 3 unit"):
        model.fit(X, ONE_HOT, epochs=1, verbose=0, validation_data=(X, ONE_HOT),
                  callbacks=[ReduceMetrics(num_classes=4),
                             LambdaCallback(on_batch_end=lambda b, logs: counted.append(b))])
    assert (counted == []) == before  # refused before the first training batch


def test_a_num_classes_only_the_data_can_check_fails_at_the_first_batch(installed,
                                                                        monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    model = _model('tf.shape reshape, nobody knows')
    with pytest.raises(ValueError, match=r"is 4 but the output has 3 unit"):
        model.evaluate(X, ONE_HOT, batch_size=3, verbose=0,
                       get_predict={'reduce': {'num_classes': 4}})
