"""Shared pieces of the tf.keras representative set (see README.md here)."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras


@pytest.fixture(autouse=True)
def fresh_session():
    """Each test in a new graph and session, as TensorFlow's own keras tests do."""
    keras.backend.clear_session()
    yield
    keras.backend.clear_session()


def small_mlp(inputs=4, units=8, outputs=2, activation='softmax'):
    model = keras.models.Sequential([
        keras.layers.Dense(units, activation='relu', input_shape=(inputs,)),
        keras.layers.Dense(outputs, activation=activation)])
    model.compile(keras.optimizers.SGD(0.01), 'categorical_crossentropy',
                  metrics=['accuracy'])
    return model


def data(samples=20, inputs=4, outputs=2, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.rand(samples, inputs).astype('float32')
    y = np.eye(outputs, dtype='float32')[rng.randint(0, outputs, samples)]
    return x, y


def generator(x, y, batch_size, sample_weight=None):
    while True:
        for start in range(0, len(x), batch_size):
            batch = (x[start:start + batch_size], y[start:start + batch_size])
            if sample_weight is not None:
                batch += (sample_weight[start:start + batch_size],)
            yield batch


class Batches(keras.utils.Sequence):
    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]


class HookCounts(keras.callbacks.Callback):
    """How many times each hook ran, and the keys of the epoch logs."""

    def __init__(self):
        super(HookCounts, self).__init__()
        self.counts = {}
        self.epoch_keys = []

    def _count(self, name):
        self.counts[name] = self.counts.get(name, 0) + 1

    def on_epoch_end(self, epoch, logs=None):
        self._count('on_epoch_end')
        self.epoch_keys.append(sorted(logs or {}))


for _hook in ('on_train_begin', 'on_train_end', 'on_epoch_begin', 'on_train_batch_begin',
              'on_train_batch_end', 'on_test_begin', 'on_test_end', 'on_test_batch_begin',
              'on_test_batch_end', 'on_predict_begin', 'on_predict_end'):
    setattr(HookCounts, _hook,
            (lambda name: lambda self, *args, **kwargs: self._count(name))(_hook))


def dataset(x, y, batch_size):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).repeat()
