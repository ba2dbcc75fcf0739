"""The data half of `handmade.py`, which imports no Keras (the tf.keras tests use it
in a venv without standalone Keras): sample `i` has `x[i, 0] == i`, and `KERNEL`'s
first column copies it, so `index_of(y_pred)` names the sample of each prediction."""
import numpy as np

N_FEATURES = 3
# Output = x @ KERNEL: column 0 copies x[:, 0] (the sample index); column 1 is 2*x1 + x2.
KERNEL = np.array([[1., 0.], [0., 2.], [0., 1.]], dtype='float32')


def make_data(n, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, size=(n, N_FEATURES)).astype('float32')
    x[:, 0] = np.arange(n)
    y = rng.uniform(-1, 1, size=(n, 2)).astype('float32')
    return x, y


def expected_output(x):
    return x.dot(KERNEL)


def index_of(y_pred):
    return np.rint(np.asarray(y_pred)[:, 0]).astype(int)


def batches(x, y, batch_size, order=None):
    """Endless generator of `(x, y)` batches, in `order` (sample indices) if given."""
    order = np.arange(len(x)) if order is None else np.asarray(order)
    while True:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]
