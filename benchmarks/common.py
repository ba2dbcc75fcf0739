"""What the benchmarks share: random image data and the small conv net they time.

Each benchmark runs as a script (`python benchmarks/bench_X.py`), so this module is
imported as `common` from the benchmarks' own folder. Import it after TensorFlow's
logging has been quietened.
"""
import numpy as np
from keras.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from keras.models import Model
from keras.utils import Sequence


def random_images(n, shape, classes, seed=0):
    """`n` uniform random images of `shape` and one-hot labels of `classes` classes."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(size=(n,) + tuple(shape)).astype('float32')
    y = np.eye(classes, dtype='float32')[rng.randint(classes, size=n)]
    return x, y


class RandomBatches(Sequence):
    """`n_batches` batches of `random_images`."""

    def __init__(self, n_batches, batch_size, shape, classes, seed=0):
        self.x, self.y = random_images(n_batches * batch_size, shape, classes, seed)
        self.batch_size = batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def conv_net(shape, classes, input_name=None):
    """Two conv/pool blocks and a dense layer, compiled with Adam and accuracy."""
    inputs = Input(shape, name=input_name)
    h = Conv2D(16, 3, activation='relu', padding='same')(inputs)
    h = MaxPooling2D()(h)
    h = Conv2D(32, 3, activation='relu', padding='same')(h)
    h = MaxPooling2D()(h)
    h = Flatten()(h)
    h = Dense(64, activation='relu')(h)
    model = Model(inputs, Dense(classes, activation='softmax')(h))
    model.compile('adam', 'categorical_crossentropy', metrics=['accuracy'])
    return model
