"""Callbacks ask for the capture they need, and `capturing` blocks switch it on for code
the user does not own: merged requests, the scoped block, and a library-style `train()`
used unedited. Values are checked against models whose outputs are computed by hand."""
import inspect
import threading

from support.stack import keras, Callback, LambdaCallback, validation_rows
import numpy as np
import pytest

import keras_getpredict
from support import tiny_library
from support.handmade import (KERNEL, batches, expected_output, index_of, linear_model, make_data,
                              two_in_two_out_model)
from keras_getpredict.callbacks import (EpochMetrics, PredictionSaver, ReduceMetrics,
                                        TensorBoardCounts, TensorBoardPredictions)
from keras_getpredict.core.results import LOGS_KEY
from keras_getpredict.mask_rcnn import HEADS_GET_PREDICT, MaskRCNNHeadMetrics

X, Y = make_data(12)
X_VAL, Y_VAL = make_data(8, seed=1)
X_VAL[:, 0] += 100  # validation sample i has x[i, 0] == 100 + i


class Recorder(Callback):
    """Asks for capture like keras-getpredict's callbacks, and keeps each epoch's entry."""

    def __init__(self, get_predict=True):
        super(Recorder, self).__init__()
        self.get_predict = get_predict
        self.entries = []

    def on_epoch_end(self, epoch, logs=None):
        self.entries.append((logs or {}).get(LOGS_KEY))


def _check_linear_entry(entry):
    """One epoch of `linear_model` on the validation set: every sample once, y_true its
    own row, y_pred = x @ KERNEL."""
    y_pred = np.concatenate(entry['y_pred'])
    y_true = np.concatenate(entry['y_true'])
    index = index_of(y_pred) - 100
    assert sorted(index) == list(range(len(X_VAL)))
    np.testing.assert_allclose(y_pred, expected_output(X_VAL[index]), rtol=1e-6)
    np.testing.assert_array_equal(y_true, Y_VAL[index])


def _fit(model, method, callbacks, epochs=2, **kwargs):
    if method == 'fit':
        return model.fit(X, Y, batch_size=4, epochs=epochs, verbose=0,
                         validation_data=(X_VAL, Y_VAL), callbacks=callbacks, **kwargs)
    return model.fit_generator(batches(X, Y, 4), 3, epochs=epochs, verbose=0,
                               validation_data=batches(X_VAL, Y_VAL, 4), validation_steps=2,
                               callbacks=callbacks, workers=0, **kwargs)


both_methods = pytest.mark.parametrize('method', ['fit', 'fit_generator'])


# --- what each callback asks for ----------------------------------------------------

def test_each_callback_asks_for_what_it_reads():
    assert EpochMetrics().get_predict is True
    assert EpochMetrics(outputs=['a', 'b']).get_predict == ['a', 'b']
    assert TensorBoardPredictions('logs', EpochMetrics(outputs='a')).get_predict == 'a'
    assert MaskRCNNHeadMetrics(['BG', 'x']).get_predict == HEADS_GET_PREDICT
    assert ReduceMetrics().get_predict is None  # no class count: it cannot ask
    assert ReduceMetrics(class_names=['a', 'b', 'c']).get_predict == {
        'reduce': {'num_classes': 3}}
    assert ReduceMetrics(num_classes=4, bins=0).get_predict == {
        'reduce': {'num_classes': 4, 'bins': 0}}
    assert TensorBoardCounts('logs', num_classes=2, bins=10).get_predict == {
        'reduce': {'num_classes': 2, 'bins': 10}}
    saver = PredictionSaver('e{epoch}.npz')
    assert saver.get_predict is None and saver.fallback_get_predict is True


@pytest.mark.parametrize('make, message', [
    (lambda: ReduceMetrics(num_classes=1), r'`num_classes` should be an integer >= 2'),
    (lambda: ReduceMetrics(class_names=['a', 'b'], num_classes=3),
     r'`class_names` has 2 names but `num_classes` is 3'),
    (lambda: ReduceMetrics(num_classes=3, bins=-1), r'`bins` should be an integer >= 0'),
])
def test_a_request_that_cannot_be_made_raises_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- the call merges the requests of its callbacks ------------------------------------

@both_methods
def test_a_callback_alone_switches_capture_on(installed, method):
    model = linear_model()
    recorder = Recorder()
    history = _fit(model, method, [recorder])
    assert len(recorder.entries) == 2
    for entry in recorder.entries:
        _check_linear_entry(entry)
    # History keeps the last entry aside, as with `get_predict=True`.
    assert LOGS_KEY not in history.history
    _check_linear_entry(history.val_gts_and_preds)


@both_methods
def test_callbacks_that_ask_nothing_leave_the_call_stock(installed, method):
    model = linear_model()
    stock = model.test_function if hasattr(model, 'test_function') else None
    seen = []
    plain = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
    plain.get_predict = lambda: True  # a method of that name is no request
    _fit(model, method, [plain, Recorder(get_predict=None), Recorder(get_predict=False)])
    assert [LOGS_KEY in logs for logs in seen] == [False, False]
    assert all('val_loss' in logs for logs in seen)
    if stock is not None:
        assert model.test_function is stock


def test_requests_merge_into_the_union_in_the_models_order(installed):
    model = two_in_two_out_model()
    x, y = make_data(6)
    b = np.arange(6, dtype='float32')[:, None]
    y_double = 2 * b
    y_sum = x.dot(KERNEL) + b
    asks_sum = Recorder({'outputs': ['sum'], 'inputs': ['b']})
    asks_layer = Recorder({'layers': ['proj']})
    model.fit([x, b], [y_sum, y_double], batch_size=3, epochs=1, verbose=0,
              validation_data=([x, b], [y_sum, y_double]), callbacks=[asks_sum, asks_layer],
              get_predict='double')
    entry = asks_sum.entries[0]
    assert asks_layer.entries[0] is entry  # one capture, shared
    # The model's order, whatever order the requests came in.
    assert entry.output_names == ['sum', 'double']
    flat = keras_getpredict.concat_batches(entry)
    rows = validation_rows(flat['inputs']['b'], b)
    np.testing.assert_allclose(flat['y_pred'][0], y_sum[rows], rtol=1e-6)
    np.testing.assert_allclose(flat['y_pred'][1], y_double[rows], rtol=1e-6)
    np.testing.assert_array_equal(flat['y_true'][1], y_double[rows])
    np.testing.assert_allclose(flat['layers']['proj'], x[rows].dot(KERNEL), rtol=1e-6)


class _EpochsBegun(Callback):
    def __init__(self):
        super(_EpochsBegun, self).__init__()
        self.begun = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.begun += 1


@both_methods
def test_full_capture_and_reducing_requests_are_refused_before_training(installed, method):
    model = linear_model()
    model.compile('sgd', 'mse')  # a learning rate: training would change the weights
    before = model.get_weights()
    counter = _EpochsBegun()
    with pytest.raises(ValueError) as raised:
        _fit(model, method, [counter, EpochMetrics(),
                             Recorder({'reduce': {'num_classes': 2}})])
    message = str(raised.value)
    assert 'EpochMetrics (in `callbacks`) asks for full capture' in message
    assert 'Recorder (in `callbacks`) asks for the reducing mode' in message
    assert counter.begun == 0
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_reducing_specs_merge_unless_they_spell_out_different_values(installed):
    model = _classifier()
    x, labels = _class_data()
    counts = Recorder(None)
    # ReduceMetrics leaves `bins` to the call: the call's 0 holds.
    model.fit(x, labels, epochs=1, verbose=0, validation_data=(x, labels),
              callbacks=[ReduceMetrics(num_classes=3), counts],
              get_predict={'reduce': {'num_classes': 3, 'bins': 0}})
    spec = counts.entries[0].spec
    assert (spec.num_classes, spec.bins) == (3, 0)
    confusion = counts.entries[0]['out'].confusion
    np.testing.assert_array_equal(confusion, _confusion(labels, x.argmax(1)))
    with pytest.raises(ValueError, match=r"different reducing specs \('bins'\).*"
                                         r"`get_predict`: 20; ReduceMetrics.*: 10"):
        model.fit(x, labels, epochs=1, verbose=0, validation_data=(x, labels),
                  callbacks=[ReduceMetrics(num_classes=3, bins=10)],
                  get_predict={'reduce': {'num_classes': 3, 'bins': 20}})


def test_a_callbacks_unknown_output_is_named_at_the_start_of_the_call(installed):
    counter = _EpochsBegun()
    with pytest.raises(ValueError, match=r"EpochMetrics \(in `callbacks`\) asks for capture "
                                         r"with an invalid `get_predict` \('nope'\).*"
                                         r"Unknown output.*\['dense'\]"):
        _fit(linear_model(), 'fit_generator', [counter, EpochMetrics(outputs='nope')])
    assert counter.begun == 0


def test_prediction_saver_saves_whatever_others_ask_for(installed, tmpdir):
    from keras_getpredict.analysis.files import load_predictions
    model = _classifier()
    x, labels = _class_data()
    # Alone, it asks for full capture.
    model.fit(x, labels, epochs=1, verbose=0, validation_data=(x, labels),
              callbacks=[PredictionSaver(str(tmpdir.join('full_{epoch}.npz')))])
    saved = load_predictions(str(tmpdir.join('full_1.npz')))
    np.testing.assert_allclose(saved.y_pred['out'], model.predict(x), rtol=1e-6)
    # Next to a callback that asks for the reducing mode, it saves the counts.
    model.fit(x, labels, epochs=1, verbose=0, validation_data=(x, labels),
              callbacks=[ReduceMetrics(num_classes=3),
                         PredictionSaver(str(tmpdir.join('counts_{epoch}.npz')))])
    counted = load_predictions(str(tmpdir.join('counts_1.npz')))
    np.testing.assert_array_equal(counted.counts['out'].confusion,
                                  _confusion(labels, x.argmax(1)))


def _classifier():
    # softmax(10 x): the predicted class is argmax(x), computable by hand.
    inputs = keras.layers.Input((3,))
    dense = keras.layers.Dense(3, activation='softmax', use_bias=False, name='out')
    model = keras.models.Model(inputs, dense(inputs))
    dense.set_weights([10 * np.eye(3, dtype='float32')])
    model.compile(keras.optimizers.SGD(lr=0.), 'sparse_categorical_crossentropy')
    return model


def _class_data():
    rng = np.random.RandomState(3)
    return rng.rand(20, 3).astype('float32'), rng.randint(0, 3, (20, 1))


def _confusion(labels, predicted):
    confusion = np.zeros((3, 3), int)
    for t, p in zip(np.ravel(labels), predicted):
        confusion[t, p] += 1
    return confusion


# --- no validation data: the error says who asked and where the call was made ---------

def test_no_validation_data_names_who_asked_and_the_callers_line(installed):
    recorder = Recorder()
    with pytest.raises(ValueError) as raised:
        tiny_library.train(linear_model(), X, Y, X_VAL, Y_VAL, custom_callbacks=[recorder],
                           validate=False)
    message = str(raised.value)
    assert 'pass `validation_data` to `fit_generator`' in message
    assert 'Capture was asked for by Recorder (in `callbacks`)' in message
    # The call spans lines: Python 3.7 names its last, later ones its first.
    first, last = _lines_of(tiny_library.train, 'model.fit_generator(', 'workers=0)')
    assert any('%s, line %d.' % (tiny_library.__file__, line) in message
               for line in range(first, last + 1)), message


def test_no_validation_data_on_the_users_own_call_names_that_line(installed):
    with pytest.raises(ValueError) as raised:
        linear_model().fit(X, Y, epochs=1, verbose=0, get_predict=True)  # the line named
    line = inspect.currentframe().f_lineno - 1
    assert 'pass `validation_data` or `0 < validation_split < 1` to `fit`' in str(raised.value)
    assert '%s, line %d' % (__file__, line) in str(raised.value)


def _lines_of(function, first_text, last_text):
    lines, start = inspect.getsourcelines(function)
    first = next(i for i, line in enumerate(lines) if first_text in line)
    last = next(i for i, line in enumerate(lines) if i >= first and last_text in line)
    return start + first, start + last


# --- a library's train(): a callback passed in, or a capturing block ------------------

def test_library_train_captures_through_a_callback_passed_in(installed):
    del tiny_library.LIBRARY_EPOCHS[:]
    recorder = Recorder()
    tiny_library.train(linear_model(), X, Y, X_VAL, Y_VAL, custom_callbacks=[recorder])
    assert len(recorder.entries) == 2
    for entry in recorder.entries:
        _check_linear_entry(entry)
    assert tiny_library.LIBRARY_EPOCHS == [0, 1]  # the library's own callbacks still run


def test_library_train_without_callbacks_captures_in_a_capturing_block(installed):
    del tiny_library.LIBRARY_EPOCHS[:]
    model = _classifier()
    x, labels = _class_data()
    recorder = Recorder(None)
    with keras_getpredict.capturing(callbacks=[recorder, EpochMetrics()]):
        history = tiny_library.train_without_callbacks(model, x, labels, x, labels)
    assert tiny_library.LIBRARY_EPOCHS == [0, 1]  # the library's own callbacks still run
    # EpochMetrics asked for the capture; every validation sample, in order.
    for entry in recorder.entries:
        flat = keras_getpredict.concat_batches(entry)
        np.testing.assert_array_equal(flat['y_true'], labels)
        np.testing.assert_allclose(flat['y_pred'], _softmax(10 * x), rtol=1e-5)
    # Its keys reach History, from the library's own fit_generator call.
    expected = _f1_macro(labels.ravel(), x.argmax(1))
    assert history.history['val_f1_macro'] == pytest.approx([expected] * 2)
    # After the block, the same call is stock again.
    after = tiny_library.train_without_callbacks(model, x, labels, x, labels, epochs=1)
    assert 'val_f1_macro' not in after.history
    assert not hasattr(after, 'val_gts_and_preds')


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _f1_macro(labels, predicted):
    scores = []
    for c in range(3):
        tp = np.sum((labels == c) & (predicted == c))
        fp = np.sum((labels != c) & (predicted == c))
        fn = np.sum((labels == c) & (predicted != c))
        scores.append(2. * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.)
    return np.mean(scores)


def test_a_blocks_get_predict_applies_to_fit_and_evaluate(installed):
    model = linear_model()
    seen = []
    with keras_getpredict.capturing(get_predict=True):
        tiny_library.train_without_callbacks(model, X, Y, X_VAL, Y_VAL, epochs=1)
        metrics, preds = model.evaluate_generator(batches(X_VAL, Y_VAL, 4), 2)
        model.fit(X, Y, epochs=1, verbose=0, validation_data=(X_VAL, Y_VAL),
                  callbacks=[LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
                      logs.get(LOGS_KEY)))])
    _check_linear_entry(preds)
    # Stock's own numbers for the same call outside the block.
    assert metrics == pytest.approx(model.evaluate_generator(batches(X_VAL, Y_VAL, 4), 2))
    _check_linear_entry(seen[0])


def test_a_blocks_callbacks_join_fit_but_leave_evaluate_stock(installed):
    # The block's callbacks ask for capture, but they train: `evaluate*` inside the block
    # returns Keras' own result, so library code reading it is not broken.
    model = linear_model()
    recorder = Recorder(True)
    with keras_getpredict.capturing(callbacks=[recorder]):
        metrics = model.evaluate(X_VAL, Y_VAL, verbose=0)
        generated = model.evaluate_generator(batches(X_VAL, Y_VAL, 4), 2)
        model.fit(X, Y, epochs=1, verbose=0, validation_data=(X_VAL, Y_VAL))
    assert metrics == pytest.approx(model.evaluate(X_VAL, Y_VAL, verbose=0))
    assert generated == pytest.approx(model.evaluate_generator(batches(X_VAL, Y_VAL, 4), 2))
    assert len(recorder.entries) == 1
    _check_linear_entry(recorder.entries[0])


def test_calls_made_inside_a_running_call_stay_stock(installed):
    # A callback that evaluates on its own while training runs gets Keras' own result
    # (no tuple), and the validation inside fit_generator is captured once per batch.
    model = linear_model()
    results = []
    evaluating = LambdaCallback(on_epoch_end=lambda e, logs: results.append(
        model.evaluate(X_VAL, Y_VAL, verbose=0)))
    recorder = Recorder(None)
    with keras_getpredict.capturing(get_predict=True, callbacks=[evaluating, recorder]):
        model.fit_generator(batches(X, Y, 4), 3, epochs=1, verbose=0, workers=0,
                            validation_data=batches(X_VAL, Y_VAL, 4), validation_steps=2)
    assert [np.ndim(r) for r in results] == [1]  # [loss, mae], not (metrics, preds)
    assert len(recorder.entries[0]['y_pred']) == 2


def test_blocks_nest_and_are_closed_on_exceptions(installed):
    outer, inner = Recorder(None), Recorder({'outputs': ['dense']})
    with keras_getpredict.capturing(callbacks=[outer]):
        with pytest.raises(RuntimeError, match='in the block'):
            with keras_getpredict.capturing(callbacks=[inner]):
                _fit(linear_model(), 'fit_generator', [], epochs=1)
                raise RuntimeError('in the block')
        _fit(linear_model(), 'fit_generator', [], epochs=1)
    _fit(linear_model(), 'fit_generator', [], epochs=1)
    # The inner block's request served both blocks' callbacks in the first call; after
    # it closed, the outer callback asked nothing; after both, nothing was added.
    assert len(inner.entries) == 1 and len(outer.entries) == 2
    _check_linear_entry(outer.entries[0])
    assert outer.entries[1] is None


def test_blocks_are_thread_local(installed):
    seen = {}

    def other_thread():
        model = linear_model()
        logs = []
        _fit(model, 'fit', [LambdaCallback(on_epoch_end=lambda e, l: logs.append(dict(l)))],
             epochs=1)
        seen['logs'] = logs

    with keras_getpredict.capturing(get_predict=True):
        # Keras' session and graph are per thread too: build and fit there.
        thread = threading.Thread(target=lambda: _in_graph_of_main(other_thread))
        thread.start()
        thread.join()
    assert LOGS_KEY not in seen['logs'][0] and 'val_loss' in seen['logs'][0]


def _in_graph_of_main(function, graph=keras.backend.get_session().graph):
    with graph.as_default():
        function()


@pytest.mark.parametrize('arguments, error, message', [
    ({'get_predict': 42}, TypeError, r'`get_predict` should be'),
    ({'get_predict': {'outputz': True}}, ValueError, r"Unknown keys in `get_predict`"),
    ({'callbacks': 'tensorboard'}, TypeError, r'`callbacks` should be a list'),
    ({'callbacks': [42]}, TypeError, r'`callbacks` should hold Keras callbacks'),
    ({'callbacks': [EpochMetrics(), ReduceMetrics(num_classes=3)]}, ValueError,
     r'ReduceMetrics \(in `callbacks`\) asks for the reducing mode'),
    ({'get_predict': {'reduce': {'num_classes': 3}}, 'callbacks': [EpochMetrics()]},
     ValueError, r'EpochMetrics \(in `callbacks`\) asks for full capture'),
])
def test_a_blocks_configuration_errors_raise_on_entry(installed, arguments, error, message):
    entered = []
    with pytest.raises(error, match=message):
        with keras_getpredict.capturing(**arguments):
            entered.append(True)
    assert not entered


def test_nested_blocks_that_cannot_merge_raise_on_entry(installed):
    with keras_getpredict.capturing(callbacks=[ReduceMetrics(num_classes=3)]):
        with pytest.raises(ValueError, match='ReduceMetrics .*enclosing.*reducing mode'):
            with keras_getpredict.capturing(get_predict=True):
                pass


@pytest.mark.monkeypatch_only
def test_a_block_installs_keras_getpredict_when_it_is_not(installed):
    keras_getpredict.uninstall()
    recorder = Recorder()
    with keras_getpredict.capturing(callbacks=[recorder]):
        assert keras_getpredict.is_installed()
        tiny_library.train_without_callbacks(linear_model(), X, Y, X_VAL, Y_VAL, epochs=1)
    _check_linear_entry(recorder.entries[0])
