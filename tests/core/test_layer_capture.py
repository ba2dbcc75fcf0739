"""Capture of internal layer outputs (`get_predict={'layers': ...}`) from the same session run.

The model's hidden layer has hand-set weights, and a two-output layer splits it, so every
captured value can be computed by hand from the inputs.
"""
import numpy as np
import pytest
from support.stack import keras, Layer

from keras_getpredict import concat_batches
from keras_getpredict.core.selection import parse_get_predict

X = np.arange(24, dtype='float32').reshape(8, 3)
Y = np.zeros((8, 1), dtype='float32')
KERNEL = np.array([[1., 0.], [0., 2.], [0., 1.]], dtype='float32')


class Split(Layer):
    """Two outputs: the first column doubled, the second column negated."""

    def call(self, x):
        return [2. * x[:, :1], -x[:, 1:]]

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], 1), (input_shape[0], 1)]


def _model():
    x = keras.layers.Input(shape=(3,), name='input')
    hidden = keras.layers.Dense(2, use_bias=False, name='hidden',
                                kernel_initializer=keras.initializers.Constant(KERNEL))(x)
    first, second = Split(name='split')(hidden)
    out = keras.layers.Add(name='out')([first, second])
    model = keras.Model(x, out)
    model.compile(keras.optimizers.SGD(lr=0.), 'mse')
    return model


def _generator(batch_size=3):
    while True:
        for start in range(0, len(X), batch_size):
            yield X[start:start + batch_size], Y[start:start + batch_size]


def test_parse_layers_forms():
    assert parse_get_predict({'layers': {'split': 1}}).layers == (('split', 1),)
    assert parse_get_predict({'layers': {'split': [1, 0, 1]}}).layers == (
        ('split', 1), ('split', 0))
    assert parse_get_predict({'layers': ['hidden', ('split', 0)]}).layers == (
        ('hidden', None), ('split', 0))
    assert parse_get_predict({'layers': 'hidden'}).layers == (('hidden', None),)
    assert parse_get_predict(True).layers == ()
    # The plan cache tells selections with other layers apart.
    assert parse_get_predict({'layers': {'split': 1}}).key != parse_get_predict({}).key
    with pytest.raises(TypeError, match='output index'):
        parse_get_predict({'layers': {'split': 'one'}})
    with pytest.raises(TypeError, match='layers'):
        parse_get_predict({'layers': 3})


def test_evaluate_captures_layer_outputs(installed):
    model = _model()
    _, preds = model.evaluate_generator(
        _generator(), steps=3,
        get_predict={'outputs': 'out', 'layers': ['hidden', ('split', 1), 'input']})
    assert sorted(preds['layers']) == ['hidden', 'input', 'split/1']
    assert [len(b) for b in preds['layers']['split/1']] == [3, 3, 2]
    flat = concat_batches(preds)
    hidden = X.dot(KERNEL)
    np.testing.assert_allclose(flat['layers']['hidden'], hidden)
    np.testing.assert_allclose(flat['layers']['split/1'], -hidden[:, 1:])
    # An input layer's output is the fed placeholder: copied from the feed.
    np.testing.assert_array_equal(flat['layers']['input'], X)
    np.testing.assert_allclose(flat['y_pred'], 2 * hidden[:, :1] - hidden[:, 1:])


def test_fit_generator_puts_layer_outputs_in_epoch_logs(installed):
    model = _model()
    seen = []
    model.fit_generator(_generator(), steps_per_epoch=1, epochs=2, verbose=0,
                        validation_data=_generator(4), validation_steps=2,
                        get_predict={'outputs': 'out', 'layers': {'split': 0},
                                     'inputs': ['input']},
                        callbacks=[keras.callbacks.LambdaCallback(
                            on_epoch_end=lambda epoch, logs: seen.append(
                                logs['val_gts_and_preds']))])
    assert len(seen) == 2
    for preds in seen:
        flat = concat_batches(preds)
        # Each epoch validates on all of X, in batches of 4; where the endless
        # generator stands when an epoch begins is Keras' business (Keras 2.1 reads
        # ahead through a thread), so the rows are matched to the inputs fed with them.
        fed = flat['inputs']['input']
        np.testing.assert_array_equal(fed[np.argsort(fed[:, 0])], X)
        np.testing.assert_allclose(flat['layers']['split/0'], 2 * fed.dot(KERNEL)[:, :1])


def test_unknown_layer_lists_the_layer_names(installed):
    model = _model()
    with pytest.raises(ValueError, match=r"'hiden'.*\['input', 'hidden', 'split', 'out'\]"):
        model.evaluate(X, Y, verbose=0, get_predict={'layers': {'hiden': 0}})


def test_bad_output_index_gives_the_number_of_outputs(installed):
    model = _model()
    with pytest.raises(ValueError, match="'split'.* 2 output"):
        model.evaluate(X, Y, verbose=0, get_predict={'layers': {'split': 2}})
    with pytest.raises(ValueError, match="'split'.* 2 outputs: give an output index"):
        model.evaluate(X, Y, verbose=0, get_predict={'layers': ['split']})


def test_batch_predictions_keep_layer_outputs():
    from keras_getpredict.callbacks import BatchPredictions
    model = _model()
    batches = BatchPredictions(outputs='out', layers={'split': 1, 'hidden': 0}, keep='all')
    model.fit_generator(_generator(), steps_per_epoch=3, epochs=1, verbose=0,
                        callbacks=[batches])
    assert batches.records[0]['layers'].keys() == {'split/1', 'hidden/0'}
    flat = concat_batches(batches.gts_and_preds())
    np.testing.assert_allclose(flat['layers']['split/1'], -X.dot(KERNEL)[:, 1:])
    np.testing.assert_allclose(flat['layers']['hidden/0'], X.dot(KERNEL))


def test_batch_predictions_unknown_layer_lists_the_layer_names():
    from keras_getpredict.callbacks import BatchPredictions
    model = _model()
    with pytest.raises(ValueError, match=r"'hiden' in `layers`.*'hidden'"):
        model.fit_generator(_generator(), steps_per_epoch=1, epochs=1, verbose=0,
                            callbacks=[BatchPredictions(layers=['hiden'])])
