"""Models whose outputs can be computed by hand, and data whose samples say who they are.

Sample `i` has `x[i, 0] == i`, and each model's first output copies that column, so a
prediction names the sample it was made for: `index_of(y_pred)` recovers it, and the
test can check `y_true` and every other value of that row against the data.
"""
import numpy as np
import pytest

from .stack import keras, K, TF_KERAS, Add, Dense, Input, Lambda, Model, SGD, Sequence, Sequential
from .hand_data import (KERNEL, N_FEATURES, batches, expected_output,  # noqa: F401
                        index_of, make_data)

# Stock Keras 2.3.1 on TF 1.15: a Sequence's pool workers forked after an earlier session
# was cleared (`K.clear_session()`, as every test does) stall until Keras' 30 s per-batch
# timeout, then it falls back to the main thread (150 s for one evaluate_generator call,
# reproduced without keras_getpredict). Stock tf.keras 1.15 keeps its session in a
# `threading.local`: a worker forked from the enqueuer thread drops the main thread's
# locals, so `Session.__del__` closes the session in the child, which can wait forever on
# what the parent was running (6 of 8 plain `evaluate_generator(workers=2,
# use_multiprocessing=True)` runs hung here, without keras_getpredict). Tests that fork
# workers skip there.
FORKED_WORKERS_STALL = TF_KERAS or keras.__version__.startswith('2.3.')
needs_forked_workers = pytest.mark.skipif(
    FORKED_WORKERS_STALL, reason='stock %s stalls forked Sequence workers (see '
    'support/handmade.py)' % ('tf.keras 1.15' if TF_KERAS else 'Keras 2.3'))


def frozen_sgd():
    # lr=0 keeps the hand-set weights through fit(), so predictions stay computable.
    return SGD(lr=0.)


def linear_model():
    """One input, one output `dense`: x @ KERNEL."""
    model = Sequential([Dense(2, input_shape=(N_FEATURES,), use_bias=False, name='dense')])
    model.layers[0].set_weights([KERNEL])
    model.compile(frozen_sgd(), 'mse', metrics=['mae'])
    return model


def two_in_two_out_model():
    """Inputs `a` (N_FEATURES) and `b` (1); outputs `sum` = a @ KERNEL + b and `double` = 2b."""
    a = Input((N_FEATURES,), name='a')
    b = Input((1,), name='b')
    dense = Dense(2, use_bias=False, name='proj')
    summed = Add(name='sum')([dense(a), Lambda(lambda t: K.tile(t, [1, 2]))(b)])
    double = Lambda(lambda t: 2. * t, name='double')(b)
    model = Model([a, b], [summed, double])
    dense.set_weights([KERNEL])
    model.compile(frozen_sgd(), ['mse', 'mse'])
    return model


def maskrcnn_like_model():
    """Shaped like Mask R-CNN's training model: list inputs with the ground truth in an
    input (`input_gt_class_ids`), `compile(loss=[None] * n)` after `add_loss`, scalar
    loss outputs, and metrics appended to `metrics_names`/`metrics_tensors` by hand
    (through `add_metric` on a Keras without `metrics_tensors`)."""
    image = Input((N_FEATURES,), name='input_image')
    gt_class_ids = Input((1,), name='input_gt_class_ids')
    dense = Dense(2, use_bias=False, name='mrcnn_class_logits')
    logits = dense(image)
    class_loss = Lambda(lambda t: K.mean(K.square(t[0][:, 1:] - t[1])),
                        name='mrcnn_class_loss')([logits, gt_class_ids])
    bbox_loss = Lambda(lambda t: K.mean(K.abs(t)), name='mrcnn_bbox_loss')(logits)
    model = Model([image, gt_class_ids], [logits, class_loss, bbox_loss])
    dense.set_weights([KERNEL])
    for name in ('mrcnn_class_loss', 'mrcnn_bbox_loss'):
        model.add_loss(K.mean(model.get_layer(name).output))
    model.compile(frozen_sgd(), loss=[None] * len(model.outputs))
    for name in ('mrcnn_class_loss', 'mrcnn_bbox_loss'):
        tensor = K.mean(model.get_layer(name).output)
        if hasattr(model, 'metrics_tensors'):
            model.metrics_names.append(name)
            model.metrics_tensors.append(tensor)
        else:
            # Keras 2.3 and tf.keras have neither list (stateful metrics); Mask R-CNN's
            # ports to them report these losses through `add_metric` (tf.keras asks
            # for the aggregation of a tensor that is not a Metric's).
            model.add_metric(tensor, name=name, **({'aggregation': 'mean'} if TF_KERAS else {}))
    return model


class ArraySequence(Sequence):
    """A `Sequence` over arrays; with `shuffle`, a new order every epoch."""

    def __init__(self, x, y, batch_size, shuffle=False, seed=0):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle = shuffle
        self.rng = np.random.RandomState(seed)
        self.order = np.arange(len(x))
        self.on_epoch_end()

    def __len__(self):
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        return self.x[idx], self.y[idx]

    def on_epoch_end(self):
        if self.shuffle:
            self.order = self.rng.permutation(len(self.x))
