"""Capture when the data are symbolic tensors (`fit(x=tensor, y=tensor, steps_per_epoch=...)`).

Keras 2.2.4 feeds a symbolic value by connecting it to the placeholder, and TensorFlow
refuses to fetch a connected placeholder ("is both fed and fetched"): the capture must
fetch the source tensor instead. Found by Keras' own
`test_training_and_eval_methods_on_symbolic_tensors_*` with get_predict forced on.
"""
import numpy as np
import pytest
from support.stack import keras, K
from support.models import frozen_dense

X = np.arange(30, dtype='float32').reshape(10, 3)
Y = np.full((10, 2), 7., dtype='float32')


def _model():
    # y_pred = sum of the inputs in both units; lr=0 keeps it so through training.
    model = frozen_dense(np.ones((3, 2)), input_name='input')
    # Keras 2.1 takes no symbolic tensors as data: its `_standardize_input_data`
    # reads `.ndim` of whatever it is given. What stock Keras refuses is not ours to capture.
    try:
        model.evaluate(K.constant(X), K.constant(Y), steps=1, verbose=0)
    except AttributeError as error:
        pytest.skip('this Keras takes no symbolic tensors as data: %s' % error)
    return model


def test_evaluate_with_symbolic_tensors_captures_targets_and_inputs(installed):
    model = _model()
    metrics, preds = model.evaluate(K.constant(X), K.constant(Y), steps=2, verbose=0,
                                    get_predict={'outputs': True, 'inputs': ['input']})
    expected = np.repeat(X.sum(axis=1, keepdims=True), 2, axis=1)
    assert len(preds['y_pred']) == 2  # each step evaluates the whole tensor
    for y_true, y_pred, x in zip(preds['y_true'], preds['y_pred'], preds['inputs']['input']):
        np.testing.assert_allclose(y_true, Y)
        np.testing.assert_allclose(y_pred, expected)
        np.testing.assert_allclose(x, X)
    # The metrics are the stock ones: Keras 2.3.1's `test_loop` divides the last
    # step's loss by `steps` (its own bug), so the reference is a stock evaluate.
    stock = model.evaluate(K.constant(X), K.constant(Y), steps=2, verbose=0)
    np.testing.assert_allclose(metrics, stock, rtol=1e-6)


def test_fit_with_symbolic_validation_data_puts_predictions_in_logs(installed):
    model = _model()
    seen = []
    history = model.fit(K.constant(X), K.constant(Y), epochs=2, steps_per_epoch=1,
                        verbose=0, validation_data=(K.constant(X), K.constant(Y)),
                        validation_steps=3, get_predict=True,
                        callbacks=[keras.callbacks.LambdaCallback(
                            on_epoch_end=lambda epoch, logs: seen.append(
                                logs['val_gts_and_preds']))])
    assert len(seen) == 2
    expected = np.repeat(X.sum(axis=1, keepdims=True), 2, axis=1)
    for entry in seen:
        assert len(entry['y_pred']) == 3
        for y_true, y_pred in zip(entry['y_true'], entry['y_pred']):
            np.testing.assert_allclose(y_true, Y)
            np.testing.assert_allclose(y_pred, expected)
    # The stock run's val_loss is the reference (Keras 2.3.1's `test_loop` divides
    # the last step's loss by `steps`); lr=0 makes both runs see the same weights.
    stock = _model().fit(K.constant(X), K.constant(Y), epochs=2, steps_per_epoch=1,
                         verbose=0, validation_data=(K.constant(X), K.constant(Y)),
                         validation_steps=3)
    np.testing.assert_allclose(history.history['val_loss'], stock.history['val_loss'],
                               rtol=1e-6)
