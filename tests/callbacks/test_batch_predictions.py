"""`BatchPredictions`: every training batch's targets and outputs, exactly as fed.

Models have fixed weights and learning rate 0, so what each batch must have
produced is computable by hand; the shuffled order is recorded from Keras' own
`np.random.shuffle` call.
"""
import re

import numpy as np
import pytest
import tensorflow as tf
from support.stack import (K, STACK, TF_KERAS, Callback, Dense, Input, Lambda, LambdaCallback,
                           Model, ModelCheckpoint, Sequence, Sequential, load_model, optimizers,
                           standalone_only, validation_rows)

import keras_getpredict
from keras_getpredict import BatchPredictions
from keras_getpredict.core import families

W = np.array([[1., -2.], [0.5, 3.], [-1., 0.25]], dtype='float32')
B = np.array([0.1, -0.2], dtype='float32')


def compiled(model):
    """The model object holding the train/predict functions: `model`, or the inner
    model a Keras 2.1 `Sequential` compiles and forwards to."""
    return families.family_of(model).compiled_model(model)


def dense_model(optimizer=None, **compile_kwargs):
    """y = x @ W + B, not trained (lr=0)."""
    model = Sequential([Dense(2, input_shape=(3,), name='dense')])
    model.set_weights([W, B])
    model.compile(optimizer or optimizers.SGD(lr=0.), 'mse', **compile_kwargs)
    return model


def data(n=10, seed=0):
    rng = np.random.RandomState(seed)
    return rng.rand(n, 3).astype('float32'), rng.rand(n, 2).astype('float32')


@pytest.fixture
def shuffles(monkeypatch):
    """The index arrays Keras' `fit_loop` shuffles, one per epoch, as shuffled."""
    recorded = []
    original = np.random.shuffle

    def recording_shuffle(array):
        original(array)
        recorded.append(np.array(array, copy=True))

    monkeypatch.setattr(np.random, 'shuffle', recording_shuffle)
    return recorded


def batches_of(index_array, batch_size):
    return [index_array[i:i + batch_size] for i in range(0, len(index_array), batch_size)]


def test_captures_shuffled_batches_in_fed_order_with_partial_last_batch(shuffles):
    x, y = data(10)
    model = dense_model()
    batches = BatchPredictions(inputs='dense_input', keep='all')
    model.fit(x, y, batch_size=4, epochs=2, shuffle=True, verbose=0, callbacks=[batches])

    assert len(shuffles) == 2
    expected = [(epoch, b, idx) for epoch, order in enumerate(shuffles)
                for b, idx in enumerate(batches_of(order, 4))]
    assert len(batches.records) == len(expected) == 6
    assert not np.array_equal(shuffles[0], np.arange(10))  # really shuffled
    for record, (epoch, b, idx) in zip(batches.records, expected):
        assert (record['epoch'], record['batch']) == (epoch, b)
        np.testing.assert_array_equal(record['y_true'], y[idx])
        np.testing.assert_allclose(record['y_pred'], x[idx].dot(W) + B, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(record['inputs']['dense_input'], x[idx])
    assert [r.shape[0] for r in batches.y_true] == [4, 4, 2, 4, 4, 2]
    assert batches.output_names == ['dense'] and batches.input_names == ['dense_input']


class Batches(Sequence):
    def __init__(self, x, y, bounds):
        self.x, self.y, self.bounds = x, y, bounds

    def __len__(self):
        return len(self.bounds)

    def __getitem__(self, i):
        start, stop = self.bounds[i]
        return self.x[start:stop], self.y[start:stop]


@pytest.mark.parametrize('workers', [0, 1])
def test_fit_generator_batches_of_varying_size(workers):
    x, y = data(10)
    xv, yv = data(5, seed=1)
    sizes = [(0, 4), (4, 8), (8, 10)]
    model = dense_model()
    batches = BatchPredictions(keep='all')
    history = model.fit_generator(Batches(x, y, sizes), epochs=2, shuffle=False,
                                  workers=workers, verbose=0, callbacks=[batches],
                                  validation_data=Batches(xv, yv, [(0, 3), (3, 5)]))
    # Validation as stock Keras computes it (lr = 0: the weights never change).
    # Keras 2.2.4 averages the batches' losses by size; 2.3.1's `evaluate_generator`
    # reports the last batch's.
    stock = model.evaluate_generator(Batches(xv, yv, [(0, 3), (3, 5)]), workers=workers)
    np.testing.assert_allclose(history.history['val_loss'], [stock] * 2, rtol=1e-5)
    assert len(batches.records) == 6
    for record, (start, stop) in zip(batches.records, sizes * 2):
        np.testing.assert_array_equal(record['y_true'], y[start:stop])
        np.testing.assert_allclose(record['y_pred'], x[start:stop].dot(W) + B, rtol=1e-5,
                                   atol=1e-6)


def two_output_model():
    inp = Input((3,), name='x')
    a = Dense(2, name='a')(inp)
    b = Lambda(lambda t: 2. * t[:, :1], name='b')(inp)
    model = Model(inp, [a, b])
    model.get_layer('a').set_weights([W, B])
    model.compile(optimizers.SGD(lr=0.), {'a': 'mse', 'b': 'mse'})
    return model


def test_multi_output_selection_and_sample_weights(shuffles):
    x, ya = data(10)
    yb = np.arange(10, dtype='float32')[:, None]
    weights_b = np.linspace(0.5, 5., 10).astype('float32')
    model = two_output_model()
    only_b = BatchPredictions(outputs='b', sample_weights=True, keep='all')
    both = BatchPredictions(sample_weights=True, keep='all')
    model.fit(x, {'a': ya, 'b': yb}, sample_weight={'b': weights_b}, batch_size=4,
              verbose=0, callbacks=[only_b, both])

    assert only_b.output_names == ['b'] and both.output_names == ['a', 'b']
    for idx, rb, rab in zip(batches_of(shuffles[0], 4), only_b.records, both.records):
        np.testing.assert_array_equal(rb['y_true'], yb[idx])
        np.testing.assert_allclose(rb['y_pred'], 2. * x[idx, :1], rtol=1e-6)
        np.testing.assert_allclose(rb['sample_weights'], weights_b[idx], rtol=1e-6)
        true_a, true_b = rab['y_true']
        pred_a, pred_b = rab['y_pred']
        np.testing.assert_array_equal(true_a, ya[idx])
        np.testing.assert_array_equal(true_b, yb[idx])
        np.testing.assert_allclose(pred_a, x[idx].dot(W) + B, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pred_b, 2. * x[idx, :1], rtol=1e-6)
        np.testing.assert_array_equal(rab['sample_weights'][0], np.ones(len(idx)))
        np.testing.assert_allclose(rab['sample_weights'][1], weights_b[idx], rtol=1e-6)


def test_class_weight_shows_in_sample_weights(shuffles):
    x, _ = data(9)
    labels = np.arange(9) % 2
    y = np.eye(2, dtype='float32')[labels]
    model = Sequential([Dense(2, input_shape=(3,), activation='softmax')])
    model.set_weights([W, B])
    model.compile(optimizers.SGD(lr=0.), 'categorical_crossentropy')
    batches = BatchPredictions(sample_weights=True, keep='all')
    model.fit(x, y, class_weight={0: 1., 1: 3.}, batch_size=4, verbose=0,
              callbacks=[batches])
    for idx, record in zip(batches_of(shuffles[0], 4), batches.records):
        np.testing.assert_array_equal(record['sample_weights'], np.where(labels[idx], 3., 1.))
        np.testing.assert_array_equal(record['y_true'], y[idx])


def no_target_model():
    """Mask R-CNN style: ground truth is an input (one of them bool), the loss is add_loss."""
    image = Input((3,), name='image')
    gt = Input((2,), name='gt')
    valid = Input((2,), name='valid', dtype='bool')
    out = Dense(2, name='head')(image)
    model = Model([image, gt, valid], out)
    model.get_layer('head').set_weights([W, B])
    mask = K.cast(valid, 'float32')
    model.add_loss(K.mean(K.square(out - gt) * mask))
    model.compile(optimizers.SGD(lr=0.), loss=[None])
    return model


def test_no_target_model_keeps_ground_truth_from_inputs(shuffles):
    x, gt = data(10)
    valid = (np.arange(20).reshape(10, 2) % 3 == 0)
    model = no_target_model()
    assert TF_KERAS or model.targets == [None]
    batches = BatchPredictions(inputs=['gt', 'valid'], sample_weights=True, keep='all')
    model.fit([x, gt, valid], None, batch_size=4, verbose=0, callbacks=[batches])
    assert len(batches.records) == 3
    for idx, record in zip(batches_of(shuffles[0], 4), batches.records):
        assert record['y_true'] is None and record['sample_weights'] is None
        np.testing.assert_allclose(record['y_pred'], x[idx].dot(W) + B, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(record['inputs']['gt'], gt[idx])
        assert record['inputs']['valid'].dtype == np.bool_
        np.testing.assert_array_equal(record['inputs']['valid'], valid[idx])


def test_train_function_is_extended_not_rebuilt_and_restored_after_training(tmpdir):
    x, y = data(10)
    counter = K.variable(0., name='user_counter')
    user_fetch = tf.assign_add(counter, 1.)
    model = dense_model(optimizer=optimizers.Adam(lr=0.), fetches=[user_fetch])
    model.fit(x, y, batch_size=5, verbose=0)  # builds the train function, Adam's slots
    function = compiled(model).train_function
    fetches_before = list(function.fetches)
    n_variables = len(tf.global_variables())

    batches = BatchPredictions()
    seen_during = []
    spy = LambdaCallback(on_batch_end=lambda batch, logs: seen_during.append(len(function.fetches)))
    model.fit(x, y, batch_size=5, verbose=0, callbacks=[batches, spy])

    assert seen_during == [len(fetches_before) + 1] * 2
    assert compiled(model).train_function is function
    assert len(function.fetches) == len(fetches_before)
    assert all(a is b for a, b in zip(function.fetches, fetches_before))
    # No optimizer rebuild: Adam's moments are the same variables.
    assert len(tf.global_variables()) == n_variables
    assert K.get_value(counter) == 4.  # the user's fetch ran in both fits
    assert len(batches.records) == 2
    # The capture variables stay out of the model and out of checkpoints.
    assert all('batch_predictions' not in v.name for v in tf.global_variables())

    # Everything stock afterwards.
    np.testing.assert_allclose(model.predict(x), x.dot(W) + B, rtol=1e-5, atol=1e-6)
    assert np.isfinite(model.evaluate(x, y, verbose=0))
    assert compiled(model).predict_function.fetches == [] or all(
        'batch_predictions' not in f.name for f in compiled(model).predict_function.fetches)
    path = str(tmpdir.join('model.h5'))
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(x), x.dot(W) + B, rtol=1e-5, atol=1e-6)


def test_second_fit_after_load_model_with_new_collector(tmpdir, shuffles):
    x, y = data(10)
    model = dense_model()
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[BatchPredictions()])
    path = str(tmpdir.join('model.h5'))
    model.save(path)
    K.clear_session()
    del shuffles[:]
    loaded = load_model(path)
    batches = BatchPredictions(keep='all')
    loaded.fit(x, y, batch_size=4, verbose=0, callbacks=[batches])
    assert len(batches.records) == 3
    for idx, record in zip(batches_of(shuffles[0], 4), batches.records):
        np.testing.assert_array_equal(record['y_true'], y[idx])
        np.testing.assert_allclose(record['y_pred'], x[idx].dot(W) + B, rtol=1e-5, atol=1e-6)


def test_validation_and_predict_inside_callbacks_work_while_recording(tmpdir):
    x, y = data(10)
    xv, yv = data(6, seed=1)
    model = dense_model()
    predicted, evaluated = [], []
    checkpoint = str(tmpdir.join('checkpoint.h5'))

    class PredictsDuringTraining(Callback):
        def on_batch_end(self, batch, logs=None):
            predicted.append(self.model.predict(xv[:3]))

        def on_epoch_end(self, epoch, logs=None):
            evaluated.append(self.model.evaluate(xv, yv, verbose=0))

    batches = BatchPredictions()
    history = model.fit(x, y, batch_size=4, epochs=2, validation_data=(xv, yv), verbose=0,
                        callbacks=[batches, PredictsDuringTraining(),
                                   ModelCheckpoint(checkpoint)])
    expected_loss = np.mean(np.square(xv.dot(W) + B - yv))
    np.testing.assert_allclose(history.history['val_loss'], [expected_loss] * 2, rtol=1e-5)
    np.testing.assert_allclose(evaluated, [expected_loss] * 2, rtol=1e-5)
    assert len(predicted) == 6
    for p in predicted:
        np.testing.assert_allclose(p, xv[:3].dot(W) + B, rtol=1e-5, atol=1e-6)
    assert len(batches.records) == 3  # default keep='epoch': the last epoch's batches
    np.testing.assert_allclose(load_model(checkpoint).predict(xv), xv.dot(W) + B, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize('method', ['fit', 'fit_generator'])
def test_together_with_get_predict(installed, method):
    x, y = data(10)
    xv, yv = data(6, seed=1)
    model = dense_model()
    batches = BatchPredictions(keep='all')
    epoch_logs = []
    keep_logs = LambdaCallback(on_epoch_end=lambda e, logs: epoch_logs.append(dict(logs)))
    if method == 'fit':
        model.fit(x, y, batch_size=5, epochs=2, shuffle=False, validation_data=(xv, yv),
                  verbose=0, callbacks=[batches, keep_logs], get_predict=True)
    else:
        def generator():
            while True:
                yield x[:5], y[:5]
                yield x[5:], y[5:]
        model.fit_generator(generator(), steps_per_epoch=2, epochs=2, workers=0,
                            validation_data=(xv, yv), verbose=0,
                            callbacks=[batches, keep_logs], get_predict=True)
    for logs in epoch_logs:
        flat = keras_getpredict.concat_batches(logs[keras_getpredict.LOGS_KEY])
        rows = validation_rows(flat['y_true'], yv)
        np.testing.assert_allclose(flat['y_pred'], xv[rows].dot(W) + B, rtol=1e-5, atol=1e-6)
    flat = keras_getpredict.concat_batches(batches.gts_and_preds())
    np.testing.assert_array_equal(flat['y_true'], np.concatenate([y, y]))
    np.testing.assert_allclose(flat['y_pred'], np.concatenate([x, x]).dot(W) + B, rtol=1e-5,
                               atol=1e-6)


def test_storage_modes():
    x, y = data(10)
    model = dense_model()
    last_two = BatchPredictions(keep=2)
    per_epoch = BatchPredictions()
    every = BatchPredictions(keep='all')
    streamed = []
    stream = BatchPredictions(on_batch=streamed.append)
    stream_and_keep = BatchPredictions(on_batch=lambda r: None, keep=1)
    model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
              callbacks=[last_two, per_epoch, every, stream, stream_and_keep])

    def ids(records):
        return [(r['epoch'], r['batch']) for r in records]

    assert ids(every.records) == [(e, b) for e in range(3) for b in range(3)]
    assert ids(last_two.records) == [(2, 1), (2, 2)]
    assert ids(per_epoch.records) == [(2, 0), (2, 1), (2, 2)]
    assert ids(streamed) == ids(every.records) and len(stream.records) == 0
    assert ids(stream_and_keep.records) == [(2, 2)]
    for r in streamed:
        start = 4 * r['batch']
        np.testing.assert_array_equal(r['y_true'], y[start:start + 4])


def test_unknown_names_raise_listing_the_models_names_and_leave_the_model_alone():
    x, y = data(10)
    model = dense_model()
    model.fit(x, y, verbose=0)
    fetches = list(compiled(model).train_function.fetches)
    with pytest.raises(ValueError, match=r"Unknown output.*'nope'.*outputs are: \['dense'\]"):
        model.fit(x, y, verbose=0, callbacks=[BatchPredictions(outputs=['dense', 'nope'])])
    with pytest.raises(ValueError, match=r"Unknown input.*'img'.*inputs are: \['dense_input'\]"):
        model.fit(x, y, verbose=0, callbacks=[BatchPredictions(inputs='img')])
    assert compiled(model).train_function.fetches == fetches
    np.testing.assert_allclose(model.predict(x), x.dot(W) + B, rtol=1e-5, atol=1e-6)


def test_uncompiled_model_gives_keras_own_error():
    x, y = data(4)
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(RuntimeError) as stock:
        model.fit(x, y, verbose=0)
    with pytest.raises(RuntimeError) as ours:
        model.fit(x, y, verbose=0, callbacks=[BatchPredictions()])
    assert str(ours.value) == str(stock.value)
    batches = BatchPredictions()
    batches.set_model(model)
    # Keras' own message (tf.keras: 'You must compile a model before training/testing').
    with pytest.raises(RuntimeError, match='You must compile'):
        batches.on_train_begin()


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(keep='last'), ValueError, '`keep`'),
    (dict(keep=-1), ValueError, '`keep`'),
    (dict(keep=True), TypeError, '`keep`'),
    (dict(keep=2.5), TypeError, '`keep`'),
    (dict(keep=0), ValueError, '`on_batch`'),
    (dict(on_batch=5), TypeError, '`on_batch`'),
    (dict(outputs=3), TypeError, '`outputs`'),
    (dict(outputs=[]), ValueError, '`outputs`'),
    (dict(inputs=[1]), TypeError, '`inputs`'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchPredictions(**kwargs)


def test_leftover_fetch_from_a_failed_fit_is_removed_by_the_next_run():
    x, y = data(10)
    model = dense_model()

    def fail(batch, logs):
        if batch == 1:
            raise KeyboardInterrupt

    crashed = BatchPredictions()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=4, verbose=0,
                  callbacks=[crashed, LambdaCallback(on_batch_end=fail)])
    # Keras skipped on_train_end: the fetch is still there...
    assert len(compiled(model).train_function.fetches) == 1
    batches = BatchPredictions(keep='all')
    model.fit(x, y, batch_size=4, shuffle=False, verbose=0, callbacks=[batches])
    # ...and gone after the next run, which recorded normally.
    assert compiled(model).train_function.fetches == []
    np.testing.assert_array_equal(np.concatenate(batches.y_true), y)
    # detach() is safe to call again, and by hand.
    crashed.detach()
    batches.detach()
    assert compiled(model).train_function.fetches == []


def test_later_fits_reuse_the_graph_ops():
    """On every Keras, cached session callables or not (the next test)."""
    x, y = data(10)
    model = dense_model()
    graph = families.tf_v1().get_default_graph()
    model.fit(x, y, batch_size=5, verbose=0)
    model.fit(x, y, batch_size=5, verbose=0, callbacks=[BatchPredictions()])
    n_ops = len(graph.get_operations())
    for _ in range(2):
        batches = BatchPredictions()
        model.fit(x, y, batch_size=5, shuffle=False, verbose=0, callbacks=[batches])
        np.testing.assert_array_equal(np.concatenate(batches.y_true), y)
    assert len(graph.get_operations()) == n_ops
    model.fit(x, y, batch_size=5, verbose=0)
    assert compiled(model).train_function.fetches == []


@pytest.mark.skipif(not (TF_KERAS or families.for_stack(STACK).session_callable_state),
                    reason="this Keras' backend Function calls Session.run every time: "
                           "no session callable to reuse (Keras 2.1)")
def test_later_fits_reuse_the_graph_ops_and_session_callables():
    x, y = data(10)
    model = dense_model()
    graph = families.tf_v1().get_default_graph()
    model.fit(x, y, batch_size=5, verbose=0)
    function = compiled(model).train_function
    stock_callable = function._callable_fn
    callables = []
    spy = LambdaCallback(on_batch_end=lambda batch, logs: callables.append(function._callable_fn))

    model.fit(x, y, batch_size=5, verbose=0, callbacks=[BatchPredictions(), spy])
    n_ops = len(graph.get_operations())
    assert function._callable_fn is stock_callable  # restored, not re-made
    for _ in range(2):
        # A new collector each time, as in a `for epoch: fit(epochs=1)` loop.
        batches = BatchPredictions()
        model.fit(x, y, batch_size=5, shuffle=False, verbose=0, callbacks=[batches, spy])
        np.testing.assert_array_equal(np.concatenate(batches.y_true), y)
        assert function._callable_fn is stock_callable
    assert len(graph.get_operations()) == n_ops
    assert len(callables) == 6 and all(c is callables[0] for c in callables)
    assert callables[0] is not stock_callable
    model.fit(x, y, batch_size=5, verbose=0)
    assert function._callable_fn is stock_callable and function.fetches == []


def test_outputs_are_those_of_the_step_before_its_weight_update():
    x, y = data(10)
    model = dense_model(optimizer=optimizers.SGD(lr=0.5))
    weights_at_step = []
    before = LambdaCallback(on_batch_begin=lambda batch, logs: weights_at_step.append(
        model.get_weights()))
    batches = BatchPredictions(keep='all')
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
              callbacks=[before, batches])
    assert not np.allclose(weights_at_step[0][0], weights_at_step[-1][0])  # it trained
    starts = [0, 4, 8] * 2
    for record, (kernel, bias), start in zip(batches.records, weights_at_step, starts):
        xb = x[start:start + 4]
        np.testing.assert_allclose(record['y_pred'], xb.dot(kernel) + bias, rtol=1e-5,
                                   atol=1e-5)


@standalone_only  # it changes standalone Keras' version or adapter
def test_refuses_an_unsupported_keras_when_training_starts(monkeypatch):
    from support.stack import keras
    x, y = data(4)
    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile('sgd', 'mse')
    # A Keras with no family: refused when training starts.
    monkeypatch.setattr(keras, '__version__', '2.0.8')
    message = 'BatchPredictions: keras_getpredict supports Keras %s; found Keras 2.0.8' % (
        ', '.join(families.SUPPORTED_KERAS))
    with pytest.raises(RuntimeError, match=re.escape(message)):
        model.fit(x, y, verbose=0, callbacks=[BatchPredictions()])


@standalone_only  # it changes standalone Keras' version or adapter
def test_names_a_missing_backend_function_internal(monkeypatch):
    x, y = data(4)
    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile('sgd', 'mse')
    family = families.family_of(model)
    monkeypatch.setattr(family, '_function_internals_present', False)
    monkeypatch.setattr(family, 'session_callable_state',
                        family.session_callable_state + ('_renamed_callable',))
    with pytest.raises(RuntimeError, match=r'BatchPredictions: .*Function\._renamed_callable'):
        model.fit(x, y, verbose=0, callbacks=[BatchPredictions()])
