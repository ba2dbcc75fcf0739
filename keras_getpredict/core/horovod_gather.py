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

import os
import threading
import weakref
import zlib

import numpy as np

from . import keras_internals
from .gather_payload import decode, encode
from .results import LOGS_KEY
from .gather_order import MERGERS
from .horovod_sum import HorovodAllreduce, sum_counts

#: Environment variable: seconds a rank waits in the first collective of an exchange
#: for the other ranks to join (default `DEFAULT_TIMEOUT`). A rank that never joins
#: (it runs `fit` without `get_predict`, or other callbacks) would leave this one
#: waiting forever; after the timeout this rank raises, and its exit shuts Horovod
#: down on the others too.
TIMEOUT_ENV = 'KERAS_GETPREDICT_GATHER_TIMEOUT'
DEFAULT_TIMEOUT = 600.0

# The choices every rank must make alike, as numbers in the counts row.
_TO_CODES = {'all': 1, 'root': 2}
_SHARDS_CODES = {'contiguous': 1, 'strided': 2}

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

    def counts(self, row, label='counts'):
        """Every rank's `row` (int64 vector of length 4), stacked by rank; waits at
        most `TIMEOUT_ENV` seconds for the other ranks."""
        import tensorflow as tf
        session, placeholder, op = self._op(label, tf.int64, (None, 4))
        return _bounded_run(session, op, {placeholder: np.asarray(row, np.int64).reshape(1, 4)},
                            self.rank, label)

    def payloads(self, payload, label='payloads'):
        """Every rank's `uint8` payload, concatenated by rank."""
        import tensorflow as tf
        session, placeholder, op = self._op(label, tf.uint8, (None,))
        return session.run(op, {placeholder: payload})

    @property
    def rank(self):
        return self.hvd.rank()


def gather_timeout():
    """The seconds from `TIMEOUT_ENV` (`DEFAULT_TIMEOUT` when unset)."""
    value = os.environ.get(TIMEOUT_ENV, '')
    try:
        return float(value) if value else DEFAULT_TIMEOUT
    except ValueError:
        raise ValueError('%s should be a number of seconds; got %r.' % (TIMEOUT_ENV, value))


def _bounded_run(session, op, feed, rank, label):
    # A collective some rank never joins blocks `session.run` for good, and TF's own
    # `timeout_in_ms` cannot cancel a Horovod op; so it runs in a daemon thread.
    timeout = gather_timeout()
    done = {}

    def run():
        try:
            done['value'] = session.run(op, feed)
        except BaseException as e:  # noqa: B902 - handed to the waiting thread
            done['error'] = e

    thread = threading.Thread(target=run, name='keras-getpredict-' + label)
    thread.daemon = True
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise RuntimeError(
            'Horovod rank %d waited %g s for the other ranks in keras-getpredict\'s %r '
            'exchange, which every rank makes at each epoch end of `fit`/`fit_generator` '
            "with `get_predict` (and in Horovod's `MetricAverageCallback` next to it); some "
            'rank never joined. Pass the same `get_predict` and the same callbacks on '
            'every rank (set %s to wait longer).' % (rank, timeout, label, TIMEOUT_ENV))
    if 'error' in done:
        raise done['error']
    return done['value']


def _check_same_choices(counts, to, shards):
    rows = [(int(a), int(b)) for a, b in counts[:, 2:]]
    if len(set(rows)) > 1:
        def name(codes, code):
            return [k for k, v in codes.items() if v == code][0] if code in codes.values() \
                else '?'
        choices = ['%s/%s' % (name(_TO_CODES, a), name(_SHARDS_CODES, b)) for a, b in rows]
        raise ValueError(
            "The Horovod ranks gather with different `get_predict` settings "
            "('gather'/'shards' per rank, rank 0 first: %s); pass the same on every rank."
            % choices)


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
        ValueError: In case the ranks validated different numbers of steps or
            chose different `to`/`shards` (on every rank, before any collective
            could hang), or `shards` does not match the data.
        RuntimeError: In case some rank does not join within `TIMEOUT_ENV`
            seconds.
    """
    if allgather is None:
        hvd = keras_internals.horovod_if_active()
        if hvd is None:
            raise RuntimeError('Horovod is not initialised with more than one rank.')
        allgather = HorovodAllgather(hvd)
    payload = encode(gts_and_preds)
    counts = allgather.counts([len(gts_and_preds['y_pred']), payload.size,
                               _TO_CODES.get(to, 0), _SHARDS_CODES.get(shards, 0)])
    _check_same_choices(counts, to, shards)
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

def check_same_keys(keys, allgather):
    """Raises `ValueError` on every rank unless every rank passes the same `keys`.

    `MetricAverageCallback` allreduces each logs key by name: a key only some ranks
    have (e.g. `EpochMetrics` on rank 0 only) leaves them waiting for good. One
    fixed exchange of a checksum finds that first; the names follow only when the
    checksums differ (every rank sees that, so every rank makes the second one).
    """
    blob = np.frombuffer('\n'.join(sorted(keys)).encode('utf-8'), np.uint8)
    counts = allgather.counts([zlib.crc32(blob.tobytes()), blob.size, 0, 0], 'logs_keys')
    if len(set(int(c) for c in counts[:, 0])) == 1 and len(set(counts[:, 1])) == 1:
        return
    names = allgather.payloads(blob, 'logs_key_names')
    ends = np.cumsum(counts[:, 1])
    per_rank = [set(filter(None, names[end - size:end].tobytes().decode('utf-8').split('\n')))
                for end, size in zip(ends, counts[:, 1])]
    everywhere = set.intersection(*per_rank)
    differing = ['%r on ranks %s' % (key, [r for r, ks in enumerate(per_rank) if key in ks])
                 for key in sorted(set.union(*per_rank) - everywhere)]
    raise ValueError(
        "The Horovod ranks' epoch logs hold different keys, so Horovod's "
        '`MetricAverageCallback` (which averages every key on every rank) would wait '
        "for good: %s. Put `EpochMetrics` and other callbacks that add logs keys on "
        "every rank, with `get_predict={'gather': 'all'}` (the default of `fit`), or "
        'leave `MetricAverageCallback` out.' % ', '.join(differing))


def _step_over_predictions(average):
    def average_metrics_in_place(logs):
        hvd = keras_internals.horovod_if_active()
        if hvd is not None:
            check_same_keys([k for k in (logs or {}) if k != LOGS_KEY], HorovodAllgather(hvd))
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
