"""Gathering each Horovod rank's validation predictions into the whole validation set.

Under Horovod every rank validates its own shard. When `horovod.keras` (or
`horovod.tensorflow`) is imported and initialised with more than one rank, `fit` and
`fit_generator` gather the shards at every epoch end, before any user callback runs,
so `logs['val_gts_and_preds']` holds the whole validation set. Horovod is never
imported here (`keras_internals.horovod_if_active` only looks at `sys.modules`), so
it stays an optional dependency.

The gather is two fixed Horovod allgathers per epoch, the same on every rank whatever
it recorded: first each rank's `[batches, payload bytes]`, then the payloads (the
rank's arrays as raw bytes behind a JSON header, see `payload.py`). The
first one lets every rank see every rank's step count, so ranks that validated a
different number of steps all raise the same `ValueError` instead of leaving one of
them waiting in a collective.

The order of the gathered batches follows `get_predict['shards']`: see `shards.py`.
"""
from __future__ import absolute_import

import weakref

import numpy as np

from . import keras_internals
from .gather_payload import decode, encode
from .results import LOGS_KEY
from .gather_order import MERGERS
from .horovod_sum import HorovodAllreduce, sum_counts

# ---------------------------------------------------------------------- Horovod

class HorovodAllgather(object):
    """Two allgather ops built once per graph and fed through placeholders.

    Building a fresh op per call would grow the graph every epoch (and embed the
    data in it as constants); fixed names keep the ranks' collectives matched.
    """

    _ops = weakref.WeakKeyDictionary()  # graph -> {label: (placeholder, op)}

    def __init__(self, hvd):
        self.hvd = hvd

    def _op(self, label, dtype, shape):
        import tensorflow as tf
        from keras import backend as K
        session = K.get_session()
        ops = self._ops.setdefault(session.graph, {})
        if label not in ops:
            with session.graph.as_default():
                placeholder = tf.compat.v1.placeholder(
                    dtype, shape, name='keras_getpredict_%s' % label)
                ops[label] = (placeholder, self.hvd.allgather(
                    placeholder, name='keras_getpredict_allgather_%s' % label))
        placeholder, op = ops[label]
        return session, placeholder, op

    def counts(self, row):
        """Every rank's `row` (int64 vector of length 2), stacked by rank."""
        import tensorflow as tf
        session, placeholder, op = self._op('counts', tf.int64, (None, 2))
        return session.run(op, {placeholder: np.asarray(row, np.int64).reshape(1, 2)})

    def payloads(self, payload):
        """Every rank's `uint8` payload, concatenated by rank."""
        import tensorflow as tf
        session, placeholder, op = self._op('payloads', tf.uint8, (None,))
        return session.run(op, {placeholder: payload})

    @property
    def rank(self):
        return self.hvd.rank()


def gather(gts_and_preds, to='all', shards='contiguous', allgather=None):
    """Gathers every rank's predictions; call it on every rank, the same number of times.

    # Arguments
        gts_and_preds: this rank's `GtsAndPreds`.
        to: `'all'` (every rank gets the whole set) or `'root'` (only rank 0 does).
        shards: `'contiguous'` or `'strided'`: how the ranks split the data.
        allgather: the collectives; a `HorovodAllgather` by default.

    # Returns
        The whole validation set as a `GtsAndPreds`; `None` on ranks other than 0
        when `to='root'`, and when no rank recorded anything.

    # Raises
        ValueError: In case the ranks validated different numbers of steps (on
            every rank, before any collective could hang), or `shards` does not
            match the data.
    """
    if allgather is None:
        hvd = keras_internals.horovod_if_active()
        if hvd is None:
            raise RuntimeError('Horovod is not initialised with more than one rank.')
        allgather = HorovodAllgather(hvd)
    payload = encode(gts_and_preds)
    counts = allgather.counts([len(gts_and_preds['y_pred']), payload.size])
    steps = [int(n) for n in counts[:, 0]]
    if len(set(steps)) > 1:
        raise ValueError(
            'The Horovod ranks validated different numbers of steps: %s (rank 0 '
            'first). Gathering their predictions needs the same number on every '
            'rank, as Horovod\'s collectives do: pass the same `validation_steps` '
            'on every rank, with shards that each hold that many batches (shard '
            'sizes may differ by less than one batch), or pass `get_predict='
            "{..., 'gather': False}` to keep each rank's own shard." % (steps,))
    blob = allgather.payloads(payload)
    if to == 'root' and allgather.rank != 0:
        return None
    if sum(steps) == 0:
        return None
    ends = np.cumsum(counts[:, 1])
    parts = [decode(blob[end - size:end]) for end, size in zip(ends, counts[:, 1])]
    return MERGERS[shards](parts)


def gatherer(selection, default):
    """What `_Publisher` and the evaluate methods call on the recorded batches.

    # Arguments
        selection: the call's `Selection`; its `gather` (`None` for the
            method's default, `'all'`, `'root'`, `False`) and `shards`.
        default: the method's default for `gather=None`: `'all'` for `fit` and
            `fit_generator` (every rank runs them), `False` for `evaluate*`
            (scripts often evaluate on rank 0 only, where a gather would hang).

    # Returns
        A function `GtsAndPreds -> GtsAndPreds or None`, or `None` when nothing is
        to be gathered (no Horovod, one rank, or gathering off).
    """
    to = default if selection.gather is None else selection.gather
    if not to:
        return None
    hvd = keras_internals.horovod_if_active()
    if hvd is None:
        return None
    if selection.reduce is not None:
        # Reducing mode: fixed-shape counts, summed instead of gathered.
        allreduce = HorovodAllreduce(hvd)
        return lambda counts: sum_counts(counts, to, allreduce)
    allgather = HorovodAllgather(hvd)
    return lambda gts_and_preds: gather(gts_and_preds, to, selection.shards, allgather)


# ------------------------------------------------ Horovod's MetricAverageCallback

def _step_over_predictions(average):
    def average_metrics_in_place(logs):
        if not logs or LOGS_KEY not in logs:
            return average(logs)
        # Averaged in a copy without the predictions, written back into `logs`.
        metrics = {k: v for k, v in logs.items() if k != LOGS_KEY}
        average(metrics)
        logs.update(metrics)
    return average_metrics_in_place


def step_over_predictions_in_metric_averages(callbacks):
    """Lets Horovod's `MetricAverageCallback`s among `callbacks` skip the predictions.

    It allreduces every logs entry as a tensor and would fail on the predictions.
    Each such instance gets an averaging method that leaves the entry out.

    # Returns
        A function that puts the instances back as they were.
    """
    undo = [keras_internals.wrap_metric_average(callback, _step_over_predictions)
            for callback in keras_internals.metric_average_callbacks(callbacks)]

    def restore():
        for step in reversed(undo):
            step()
    return restore
