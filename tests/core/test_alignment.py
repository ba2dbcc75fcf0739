"""y_true and y_pred line up sample by sample, on every validation path.

The models copy each sample's index into their first output (see `support/handmade.py`), so
every captured row is checked against the data it must come from.
"""
import itertools

import numpy as np
import pytest
from support.stack import K, STACK, TF_KERAS, Callback, validation_order

import keras_getpredict
from keras_getpredict.core import families
from support.handmade import (ArraySequence, batches, expected_output, index_of, linear_model,
                              make_data, maskrcnn_like_model, needs_forked_workers,
                              two_in_two_out_model)

pytestmark = pytest.mark.usefixtures('installed')


def assert_aligned(preds, x, y, expected_batches=None):
    """Checks every row; returns the sample indices seen, in order."""
    assert set(preds) >= {'y_true', 'y_pred'}
    assert len(preds['y_true']) == len(preds['y_pred'])
    if expected_batches is not None:
        assert len(preds['y_pred']) == expected_batches
    seen = []
    for y_true, y_pred in zip(preds['y_true'], preds['y_pred']):
        assert isinstance(y_pred, np.ndarray) and isinstance(y_true, np.ndarray)
        idx = index_of(y_pred)
        np.testing.assert_allclose(y_pred, expected_output(x[idx]), rtol=1e-6, atol=1e-5)
        np.testing.assert_array_equal(y_true, y[idx])
        seen.extend(idx.tolist())
    return seen


class LogsKeeper(Callback):
    """Records, per epoch, the predictions entry a user callback receives."""

    def __init__(self):
        super(LogsKeeper, self).__init__()
        self.per_epoch = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.per_epoch.append(logs.get(keras_getpredict.LOGS_KEY))


def test_evaluate_generator_plain_generator_with_last_smaller_batch():
    x, y = make_data(10)
    model = linear_model()
    metrics, preds = model.evaluate_generator(batches(x, y, 4), steps=3, get_predict=True)
    stock = model.evaluate_generator(batches(x, y, 4), steps=3)
    assert metrics == stock
    seen = assert_aligned(preds, x, y, expected_batches=3)
    assert seen == list(range(10))
    assert [len(p) for p in preds['y_pred']] == [4, 4, 2]


def test_evaluate_generator_shuffled_order():
    x, y = make_data(23)
    order = np.random.RandomState(3).permutation(23)
    model = linear_model()
    _, preds = model.evaluate_generator(batches(x, y, 5, order), steps=5, get_predict=True)
    assert assert_aligned(preds, x, y, expected_batches=5) == order.tolist()


@pytest.mark.parametrize('use_multiprocessing', [
    False, pytest.param(True, marks=needs_forked_workers)])
def test_evaluate_generator_sequence_two_workers(use_multiprocessing):
    x, y = make_data(30)
    seq = ArraySequence(x, y, batch_size=7, shuffle=True, seed=5)
    model = linear_model()
    _, preds = model.evaluate_generator(seq, workers=2, get_predict=True,
                                        use_multiprocessing=use_multiprocessing)
    seen = assert_aligned(preds, x, y, expected_batches=len(seq))
    assert sorted(seen) == list(range(30))


def test_evaluate_arrays():
    x, y = make_data(11)
    model = linear_model()
    metrics, preds = model.evaluate(x, y, batch_size=4, verbose=0, get_predict=True)
    assert metrics == model.evaluate(x, y, batch_size=4, verbose=0)
    assert assert_aligned(preds, x, y, expected_batches=3) == list(range(11))


@pytest.mark.parametrize('validation', [
    'generator', pytest.param('sequence_mp', marks=needs_forked_workers),
    'sequence_threads', 'arrays'])
def test_fit_generator_each_epoch_holds_exactly_its_validation_batches(validation):
    x, y = make_data(20)
    vx, vy = make_data(13, seed=1)
    vx[:, 0] += 100  # validation samples are 100..112, training ones 0..19
    kwargs = {}
    if validation == 'generator':
        kwargs = dict(validation_data=batches(vx, vy, 5, np.random.RandomState(0).permutation(13)),
                      validation_steps=3)
    elif validation.startswith('sequence'):
        kwargs = dict(validation_data=ArraySequence(vx, vy, 5, shuffle=True),
                      workers=2, use_multiprocessing=(validation == 'sequence_mp'))
    else:
        kwargs = dict(validation_data=(vx, vy))
    keeper = LogsKeeper()
    model = linear_model()
    history = model.fit_generator(ArraySequence(x, y, 6, shuffle=True), epochs=3, verbose=0,
                                  callbacks=[keeper], get_predict=True, **kwargs)
    vy_by_index = np.zeros((113, 2), dtype='float32')
    vy_by_index[100:] = vy
    vx_by_index = np.zeros((113, 3), dtype='float32')
    vx_by_index[100:] = vx
    assert len(keeper.per_epoch) == 3
    for preds in keeper.per_epoch:
        seen = assert_aligned(preds, vx_by_index, vy_by_index)
        assert sorted(seen) == list(range(100, 113))  # only validation samples, each once
    assert history.val_gts_and_preds is keeper.per_epoch[-1]


def test_fit_arrays_and_validation_split():
    x, y = make_data(20)
    vx, vy = make_data(9, seed=2)
    vx[:, 0] += 50
    keeper = LogsKeeper()
    model = linear_model()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(vx, vy),
              callbacks=[keeper], get_predict=True)
    full_x = np.concatenate([x, np.zeros((30, 3), 'float32'), vx])
    full_y = np.concatenate([y, np.zeros((30, 2), 'float32'), vy])
    for preds in keeper.per_epoch:
        seen = assert_aligned(preds, full_x, full_y, expected_batches=3)
        assert validation_order(seen) == list(range(50, 59))

    keeper = LogsKeeper()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, validation_split=0.25,
              callbacks=[keeper], get_predict=True)
    assert validation_order(assert_aligned(keeper.per_epoch[0], x, y)) == list(range(15, 20))


# tf.keras 1.15's fit trains a Sequence with its generator loop.
@pytest.mark.skipif(not (TF_KERAS or families.for_stack(STACK).fit_hands_to_fit_generator(
    ArraySequence(*make_data(2), batch_size=1))),
    reason='this Keras does not train Sequences with `fit`')
@pytest.mark.parametrize('validation', ['sequence', 'arrays'])
def test_fit_with_a_sequence_is_captured_like_fit_generator(validation):
    x, y = make_data(12)
    vx, vy = make_data(7, seed=4)
    vx[:, 0] += 40
    keeper = LogsKeeper()
    model = linear_model()
    validation_data = ArraySequence(vx, vy, 3) if validation == 'sequence' else (vx, vy)
    model.fit(ArraySequence(x, y, 5), epochs=2, verbose=0, validation_data=validation_data,
              callbacks=[keeper], get_predict=True)
    full_x = np.concatenate([x, np.zeros((28, 3), 'float32'), vx])
    full_y = np.concatenate([y, np.zeros((28, 2), 'float32'), vy])
    assert len(keeper.per_epoch) == 2
    for preds in keeper.per_epoch:
        assert sorted(assert_aligned(preds, full_x, full_y)) == list(range(40, 47))


def test_multi_input_multi_output_entries_follow_output_names():
    x, y = make_data(10)
    b = np.linspace(-1, 1, 10).astype('float32')[:, None]
    model = two_in_two_out_model()
    assert model.output_names == ['sum', 'double']
    y_double = np.random.RandomState(4).uniform(size=(10, 1)).astype('float32')
    # A generator (tf.keras takes a bare iterator for arrays).
    metrics, preds = model.evaluate_generator(
        (batch for batch in [([x[:6], b[:6]], [y[:6], y_double[:6]]),
                             ([x[6:], b[6:]], [y[6:], y_double[6:]])]),
        steps=2, get_predict=True)
    assert preds.output_names == ['sum', 'double']
    for k, (y_true, y_pred) in enumerate(zip(preds['y_true'], preds['y_pred'])):
        sl = slice(0, 6) if k == 0 else slice(6, 10)
        assert isinstance(y_pred, list) and len(y_pred) == 2
        np.testing.assert_allclose(y_pred[0], expected_output(x[sl]) + b[sl], atol=1e-5)
        np.testing.assert_allclose(y_pred[1], 2 * b[sl], atol=1e-6)
        np.testing.assert_array_equal(y_true[0], y[sl])
        np.testing.assert_array_equal(y_true[1], y_double[sl])


def test_output_selection_and_output_without_target():
    x, y = make_data(8)
    b = np.ones((8, 1), 'float32')
    model = two_in_two_out_model()
    model.compile('sgd', ['mse', None])  # 'double' has no target now
    _, preds = model.evaluate(x=[x, b], y=[y], batch_size=8, verbose=0, get_predict=True)
    y_true, y_pred = preds['y_true'][0], preds['y_pred'][0]
    np.testing.assert_array_equal(y_true[0], y)
    assert y_true[1] is None
    np.testing.assert_allclose(y_pred[1], 2 * b)

    _, preds = model.evaluate(x=[x, b], y=[y], batch_size=8, verbose=0, get_predict='double')
    assert preds.output_names == ['double']
    assert preds['y_true'] == [None]
    np.testing.assert_allclose(preds['y_pred'][0], 2 * b)  # one output: a bare array


def test_maskrcnn_like_model_inputs_capture_and_selection():
    """No targets (`loss=[None]*n`, generator yields `(inputs, [])`), ground truth in an input."""
    x, _ = make_data(12)
    gt = (np.arange(12) % 3).astype('float32')[:, None]
    model = maskrcnn_like_model()

    def val_gen():
        order = np.random.RandomState(1).permutation(12)
        while True:
            for s in range(0, 12, 5):
                idx = order[s:s + 5]
                yield [x[idx], gt[idx]], []

    selection = {'outputs': ['mrcnn_class_logits'], 'inputs': ['input_gt_class_ids']}
    metrics, preds = model.evaluate_generator(val_gen(), steps=3, get_predict=selection)
    assert metrics == model.evaluate_generator(val_gen(), steps=3)
    assert len(metrics) == len(model.metrics_names) == 3
    assert preds.output_names == ['mrcnn_class_logits']
    assert preds['y_true'] == [None, None, None]
    for logits, gt_batch in zip(preds['y_pred'], preds['inputs']['input_gt_class_ids']):
        idx = index_of(logits)
        np.testing.assert_allclose(logits, expected_output(x[idx]), atol=1e-5)
        np.testing.assert_array_equal(gt_batch, gt[idx])

    keeper = LogsKeeper()
    model.fit_generator(val_gen(), steps_per_epoch=2, epochs=2, verbose=0,
                        validation_data=val_gen(), validation_steps=3,
                        callbacks=[keeper], get_predict=selection)
    for epoch_preds in keeper.per_epoch:
        assert len(epoch_preds['y_pred']) == 3
        assert set(epoch_preds) == {'y_true', 'y_pred', 'inputs'}
        for logits, gt_batch in zip(epoch_preds['y_pred'],
                                    epoch_preds['inputs']['input_gt_class_ids']):
            np.testing.assert_array_equal(gt_batch, gt[index_of(logits)])


def test_callback_that_evaluates_during_training_is_not_recorded():
    x, y = make_data(12)
    vx, vy = make_data(6, seed=1)
    vx[:, 0] += 100
    model = linear_model()

    class EvaluatesEveryBatch(Callback):
        def on_batch_end(self, batch, logs=None):
            model.evaluate_generator(batches(x, y, 12), steps=1)

        def on_epoch_end(self, epoch, logs=None):
            model.evaluate(x, y, verbose=0)

    keeper = LogsKeeper()
    model.fit_generator(batches(x, y, 4), steps_per_epoch=3, epochs=2, verbose=0,
                        validation_data=batches(vx, vy, 3), validation_steps=2,
                        callbacks=[EvaluatesEveryBatch(), keeper], get_predict=True)
    for preds in keeper.per_epoch:
        assert len(preds['y_pred']) == 2
        indices = np.concatenate([index_of(p) for p in preds['y_pred']])
        assert sorted(indices) == list(range(100, 106))


def test_concat_batches_single_and_multi_output():
    x, y = make_data(10)
    model = linear_model()
    _, preds = model.evaluate_generator(batches(x, y, 4), steps=3, get_predict=True)
    flat = keras_getpredict.concat_batches(preds)
    np.testing.assert_array_equal(flat['y_true'], y)
    np.testing.assert_allclose(flat['y_pred'], expected_output(x), atol=1e-5)

    b = np.zeros((10, 1), 'float32')
    model = two_in_two_out_model()
    _, preds = model.evaluate([x, b], [y, b], batch_size=3, verbose=0, get_predict=True)
    flat = keras_getpredict.concat_batches(preds)
    np.testing.assert_array_equal(flat['y_true'][0], y)
    np.testing.assert_allclose(flat['y_pred'][1], 2 * b)


def test_concat_batches_names_the_shapes_that_do_not_fit():
    preds = keras_getpredict.GtsAndPreds(['out'], [np.zeros((2, 3)), np.zeros((2, 4))],
                                         [np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        keras_getpredict.concat_batches(preds)


def test_seed_style_code_keeps_working():
    """The blog recipe's consumers: loops, np.array(...) and [batch][sample] indexing."""
    x, y = make_data(8)
    model = linear_model()
    _, preds = model.evaluate_generator(batches(x, y, 4), steps=2, get_predict=True)
    assert np.array(preds['y_pred']).shape == (2, 4, 2)
    assert preds['y_true'][1][3][0] == y[7][0]
    total = sum(len(batch) for batch in preds['y_pred'])
    assert total == 8


def test_validation_with_sample_weights_and_legacy_argument_names():
    x, y = make_data(12)
    w = np.linspace(0.5, 2, 12).astype('float32')
    keeper = LogsKeeper()
    model = linear_model()
    callbacks = [keeper]
    # Keras 1 names (`samples_per_epoch`, `nb_epoch`, `nb_val_samples`) are converted
    # by Keras' legacy decorator before get_predict is seen (tf.keras has no such
    # decorator: Keras 2 names there). The validation batches repeat without end:
    # Keras 2.1 validates through a thread that reads ahead.
    validation = (batch for batch in itertools.cycle([(x[:6], y[:6], w[:6]),
                                                      (x[6:], y[6:], w[6:])]))
    if TF_KERAS:
        model.fit_generator(batches(x, y, 4), steps_per_epoch=3, epochs=2, verbose=0,
                            validation_data=validation, validation_steps=2,
                            callbacks=callbacks, get_predict=True)
    else:
        with pytest.warns(UserWarning, match='Update your `fit_generator` call'):
            model.fit_generator(batches(x, y, 4), samples_per_epoch=3, nb_epoch=2, verbose=0,
                                validation_data=validation, nb_val_samples=2,
                                callbacks=callbacks, get_predict=True)
    assert callbacks == [keeper]  # the caller's list is not changed
    assert [len(p['y_pred']) for p in keeper.per_epoch] == [2, 2]
    assert assert_aligned(keeper.per_epoch[0], x, y) == list(range(12))

    keeper = LogsKeeper()
    model.fit(x, y, batch_size=5, epochs=1, verbose=0, validation_data=(x, y, w),
              callbacks=[keeper], get_predict=True)
    seen = assert_aligned(keeper.per_epoch[0], x, y, expected_batches=3)
    assert validation_order(seen) == list(range(12))


def test_positional_callbacks_are_copied_not_mutated():
    x, y = make_data(8)
    keeper = LogsKeeper()
    callbacks = [keeper]
    model = linear_model()
    # fit(x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data)
    model.fit(x, y, 4, 1, 0, callbacks, 0., (x, y), get_predict=True)
    assert callbacks == [keeper]
    seen = assert_aligned(keeper.per_epoch[0], x, y, expected_batches=2)
    assert validation_order(seen) == list(range(8))


def test_predictions_come_from_the_inference_mode_pass():
    """With Dropout the learning phase is fed; captured predictions are the test-mode ones."""
    from support.stack import Dense, Dropout
    from support.stack import Sequential
    x, y = make_data(16)
    model = Sequential([Dropout(0.5, input_shape=(3,)),
                        Dense(2, use_bias=False, name='dense')])
    model.get_layer('dense').set_weights([np.eye(3, 2, dtype='float32')])
    model.compile('sgd', 'mse')
    # The learning phase is fed (keras/engine/training.py's `_uses_dynamic_learning_phase`;
    # tf.keras feeds it to every function it builds).
    assert TF_KERAS or model.uses_learning_phase
    assert not isinstance(K.learning_phase(), int)
    _, preds = model.evaluate(x, y, batch_size=5, verbose=0, get_predict=True)
    np.testing.assert_allclose(np.concatenate(preds['y_pred']), model.predict(x), atol=1e-6)
    np.testing.assert_array_equal(np.concatenate(preds['y_true']), y)


def test_integer_labels_keep_their_dtype():
    from support.stack import Dense
    from support.stack import Sequential
    x, _ = make_data(10)
    labels = (np.arange(10) % 2).astype('int64')
    model = Sequential([Dense(2, activation='softmax', input_shape=(3,))])
    model.compile('sgd', 'sparse_categorical_crossentropy', metrics=['acc'])
    _, preds = model.evaluate(x, labels, batch_size=4, verbose=0, get_predict=True)
    flat = keras_getpredict.concat_batches(preds)
    assert flat['y_true'].dtype == np.int64
    np.testing.assert_array_equal(flat['y_true'].ravel(), labels)
    np.testing.assert_allclose(flat['y_pred'], model.predict(x), atol=1e-6)
