"""Summing each Horovod rank's reducing-mode counts into the whole validation set's.

In reducing mode (`get_predict['reduce']`) every rank holds fixed-shape counts, so
the ranks need one allreduce-sum of one int64 vector per epoch instead of an allgather
of predictions: `[batches] + each counted output's OutputCounts.flat()`, in output
order. Its length depends only on the spec and the outputs, never on the data, so a
rank that validated nothing still takes part with zeros, and the collective is the
same on every rank whatever they recorded.
"""
from __future__ import absolute_import

import weakref

import numpy as np

from . import keras_internals
from .streaming import OutputCounts, StreamingCounts


class HorovodAllreduce(object):
    """One allreduce-sum op per graph (and vector length), fed through a placeholder.

    Built once like `HorovodAllgather`'s ops, so the graph does not grow per epoch.
    """

    _ops = weakref.WeakKeyDictionary()  # graph -> {size: (placeholder, op)}

    def __init__(self, hvd):
        self.hvd = hvd

    def __call__(self, vector):
        """The element-wise sum of every rank's int64 `vector`."""
        import tensorflow as tf
        from keras import backend as K
        vector = np.asarray(vector, np.int64)
        session = K.get_session()
        ops = self._ops.setdefault(session.graph, {})
        size = vector.size
        if size not in ops:
            with session.graph.as_default():
                placeholder = tf.compat.v1.placeholder(
                    tf.int64, (size,), name='keras_getpredict_counts_%d' % size)
                # Public Horovod API; `op=Sum` keeps int64 counts exact (no averaging).
                ops[size] = (placeholder, self.hvd.allreduce(
                    placeholder, op=self.hvd.Sum,
                    name='keras_getpredict_allreduce_counts_%d' % size))
        placeholder, op = ops[size]
        return session.run(op, {placeholder: vector})

    @property
    def rank(self):
        return self.hvd.rank()


def pack(counts):
    """`StreamingCounts` -> one int64 vector (see the module doc)."""
    return np.concatenate([[counts.batches]] +
                          [counts[name].flat() for name in counts.output_names])


def unpack(vector, like):
    """The inverse of `pack`, shaped like the `StreamingCounts` `like`."""
    spec = like.spec
    size = OutputCounts.flat_size(spec.num_classes, spec.bins)
    parts = {}
    for i, name in enumerate(like.output_names):
        parts[name] = OutputCounts.from_flat(vector[1 + i * size:1 + (i + 1) * size],
                                             spec.num_classes, spec.bins)
    return StreamingCounts(spec, like.output_names, parts, int(vector[0]))


def sum_counts(counts, to='all', allreduce=None):
    """Every rank's counts summed; call it on every rank, the same number of times.

    # Arguments
        counts: this rank's `StreamingCounts`.
        to: `'all'` (every rank gets the sum) or `'root'` (only rank 0 does).
        allreduce: the collective (vector -> summed vector); a
            `HorovodAllreduce` by default.

    # Returns
        The summed `StreamingCounts`; `None` on ranks other than 0 when
        `to='root'`, and when no rank recorded a batch.
    """
    if allreduce is None:
        hvd = keras_internals.horovod_if_active()
        if hvd is None:
            raise RuntimeError('Horovod is not initialised with more than one rank.')
        allreduce = HorovodAllreduce(hvd)
    total = unpack(np.asarray(allreduce(pack(counts)), np.int64), counts)
    if to == 'root' and allreduce.rank != 0:
        return None
    return total if total.batches else None
