"""tf.keras 1.15's training and evaluation paths, each called as users call it.

Every test asserts what stock tf.keras does; the gate runs them stock, with
keras-getpredict installed for tf.keras, and with `get_predict=True` forced, and
requires the same outcome.
"""
import numpy as np
import pytest
from tensorflow import keras

from .conftest import Batches, HookCounts, data, dataset, generator, small_mlp


def test_fit_arrays_with_validation_data():
    x, y = data()
    model = small_mlp()
    history = model.fit(x, y, batch_size=5, epochs=2, validation_data=(x[:10], y[:10]),
                        verbose=0)
    assert sorted(history.history) == ['acc', 'loss', 'val_acc', 'val_loss']
    assert len(history.history['val_loss']) == 2
    # Validation after the last epoch's updates: the same loss evaluate gives.
    np.testing.assert_allclose(history.history['val_loss'][-1],
                               model.evaluate(x[:10], y[:10], verbose=0)[0], rtol=1e-5)


def test_fit_arrays_with_validation_split():
    x, y = data()
    history = small_mlp().fit(x, y, batch_size=4, epochs=1, validation_split=0.25, verbose=0)
    assert 'val_loss' in history.history


def test_fit_validation_freq():
    x, y = data()
    counts = HookCounts()
    history = small_mlp().fit(x, y, batch_size=10, epochs=4, validation_data=(x, y),
                              validation_freq=2, callbacks=[counts], verbose=0)
    assert len(history.history['val_loss']) == 2
    assert counts.counts['on_test_begin'] == 2
    assert ['acc', 'loss'] in counts.epoch_keys  # epochs without validation


def test_fit_sample_and_class_weights_validate():
    x, y = data()
    weights = np.linspace(0.5, 1.5, len(x)).astype('float32')
    model = small_mlp()
    history = model.fit(x, y, batch_size=5, epochs=2, sample_weight=weights,
                        validation_data=(x[:8], y[:8]), verbose=0)
    # Weighted training, unweighted validation: tf.keras rebuilds the test function
    # for the other sample-weight mode (training.py, `_make_test_function`).
    assert len(history.history['val_loss']) == 2
    np.testing.assert_allclose(history.history['val_loss'][-1],
                               model.evaluate(x[:8], y[:8], verbose=0)[0], rtol=1e-5)


def test_fit_weighted_validation_data():
    x, y = data()
    weights = np.linspace(0.5, 1.5, len(x)).astype('float32')
    history = small_mlp().fit(x, y, batch_size=5, epochs=1,
                              validation_data=(x[:8], y[:8], weights[:8]), verbose=0)
    assert len(history.history['val_loss']) == 1


def test_fit_class_weight_validates():
    x, y = data()
    history = small_mlp().fit(x, y, batch_size=5, epochs=2, class_weight={0: 1., 1: 2.},
                              validation_data=(x[:8], y[:8]), verbose=0)
    assert len(history.history['val_loss']) == 2


def test_fit_multi_output_with_one_loss_none():
    x, y = data()
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4, activation='relu')(inputs)
    first = keras.layers.Dense(2, activation='softmax', name='first')(hidden)
    second = keras.layers.Lambda(lambda t: 2. * t, name='second')(hidden)
    model = keras.Model(inputs, [first, second])
    model.compile('sgd', loss={'first': 'categorical_crossentropy', 'second': None})
    history = model.fit(x, {'first': y}, batch_size=5, epochs=1,
                        validation_data=(x, {'first': y}), verbose=0)
    assert 'val_loss' in history.history


def test_fit_dict_inputs_and_outputs():
    x, y = data()
    a = keras.Input((4,), name='a')
    b = keras.Input((4,), name='b')
    out = keras.layers.Dense(2, activation='softmax', name='out')(
        keras.layers.concatenate([a, b]))
    model = keras.Model([a, b], out)
    model.compile('sgd', 'categorical_crossentropy')
    history = model.fit({'a': x, 'b': x}, {'out': y}, batch_size=5, epochs=1,
                        validation_data=({'a': x, 'b': x}, {'out': y}), verbose=0)
    assert 'val_loss' in history.history


def test_fit_and_evaluate_datasets():
    x, y = data()
    model = small_mlp()
    history = model.fit(dataset(x, y, 5), steps_per_epoch=4, epochs=2,
                        validation_data=dataset(x, y, 5), validation_steps=2, verbose=0)
    assert len(history.history['val_loss']) == 2
    loss, acc = model.evaluate(dataset(x, y, 5), steps=4, verbose=0)
    np.testing.assert_allclose(loss, model.evaluate(x, y, batch_size=5, verbose=0)[0],
                               rtol=1e-5)


@pytest.mark.parametrize('workers,multiprocessing', [(0, False), (2, False), (2, True)])
def test_fit_generator_and_sequence(workers, multiprocessing):
    x, y = data()
    model = small_mlp()
    history = model.fit_generator(generator(x, y, 5), steps_per_epoch=4, epochs=2,
                                  validation_data=Batches(x, y, 5), workers=workers,
                                  use_multiprocessing=multiprocessing, verbose=0)
    assert len(history.history['val_loss']) == 2
    history = model.fit(Batches(x, y, 5), epochs=1, validation_data=generator(x, y, 5),
                        validation_steps=4, workers=workers,
                        use_multiprocessing=multiprocessing, verbose=0)
    assert len(history.history['val_loss']) == 1


def test_evaluate_paths_agree():
    x, y = data()
    model = small_mlp()
    arrays = model.evaluate(x, y, batch_size=5, verbose=0)
    from_generator = model.evaluate_generator(generator(x, y, 5), steps=4)
    from_sequence = model.evaluate_generator(Batches(x, y, 5), workers=0)
    np.testing.assert_allclose(arrays, from_generator, rtol=1e-5)
    np.testing.assert_allclose(arrays, from_sequence, rtol=1e-5)


def test_evaluate_with_callbacks_runs_test_hooks():
    x, y = data()
    counts = HookCounts()
    small_mlp().evaluate(x, y, batch_size=5, callbacks=[counts], verbose=0)
    assert counts.counts['on_test_begin'] == 1
    assert counts.counts['on_test_batch_end'] == 4


def test_fit_hook_counts():
    x, y = data()
    counts = HookCounts()
    small_mlp().fit(x, y, batch_size=5, epochs=2, validation_data=(x[:10], y[:10]),
                    callbacks=[counts], verbose=0)
    assert counts.counts == {
        'on_train_begin': 1, 'on_train_end': 1, 'on_epoch_begin': 2, 'on_epoch_end': 2,
        'on_train_batch_begin': 8, 'on_train_batch_end': 8, 'on_test_begin': 2,
        'on_test_end': 2, 'on_test_batch_begin': 4, 'on_test_batch_end': 4}


def test_train_and_test_on_batch():
    x, y = data()
    model = small_mlp()
    before = model.test_on_batch(x, y)
    model.train_on_batch(x, y)
    assert len(before) == 2
    assert model.test_on_batch(x, y)[0] != before[0]


def test_predict_is_untouched():
    x, _ = data()
    model = small_mlp()
    np.testing.assert_allclose(model.predict(x, batch_size=3),
                               model.predict_on_batch(x), rtol=1e-5)
    assert model.predict_generator(Batches(x, x, 5), workers=0).shape == (20, 2)
