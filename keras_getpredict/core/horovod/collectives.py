"""The Horovod collectives both modes use, built once per graph and each bounded in time.

Gathering predictions (`gather.py`) and summing the reducing mode's counts and graph
sums (`sums.py`) go through one `HorovodCollectives`: allgather ops for rows of int64
and for bytes, and an allreduce-sum of int64 or float64, each built once per graph and
fed through placeholders (a fresh op per call would grow the graph every epoch), each
run waiting at most `KERAS_GETPREDICT_GATHER_TIMEOUT` seconds for the other ranks.

Both start with the same `handshake`: every rank's description of what it sends (the
mode, the `gather`/`shards` choice, the reducing spec, the output names), its step count
and whether its own capture failed, in one fixed collective. Ranks that describe
different things raise the same `ConfigurationError` on every rank, naming what each
rank sent, before any collective could hang on mismatched sizes; a rank whose capture
failed (see `core/failures.py`) still takes part, and every rank then publishes nothing
that epoch. Horovod is never imported here: `families.horovod_if_active` only looks at
`sys.modules`. The collectives run in the session of the call's Keras family.
"""
from __future__ import absolute_import

import json
import os
import threading
import weakref
import zlib

import numpy as np

from ..families import horovod_if_active, tf_v1
from ..failures import ConfigurationError

#: Environment variable: seconds a rank waits in a collective for the other ranks to join
#: (default `DEFAULT_TIMEOUT`). A rank that never joins (it runs `fit` without
#: `get_predict`, or other callbacks) would leave this one waiting forever; after the
#: timeout this rank raises, and its exit shuts Horovod down on the others too.
TIMEOUT_ENV = 'KERAS_GETPREDICT_GATHER_TIMEOUT'
DEFAULT_TIMEOUT = 600.0
#: The handshake row: description checksum, description size, steps, failed, payload size.
ROW = 5
#: The handshake's name, the same in both modes: Horovod matches collectives by name, so a
#: rank that gathers and one that sums meet in it and raise, rather than wait for good.
HANDSHAKE = 'handshake'


class RanksDidNotJoin(ConfigurationError, RuntimeError):
    """Some Horovod rank never joined a collective of ours within the timeout: the ranks
    do not run the same capture (a `RuntimeError`, and never swallowed as our own
    failure)."""


def gather_timeout():
    """The seconds from `TIMEOUT_ENV` (`DEFAULT_TIMEOUT` when unset or empty).

    # Raises
        ConfigurationError: In case `TIMEOUT_ENV` holds anything but a number of
            seconds a thread can wait (more than 0, at most `threading.TIMEOUT_MAX`).
    """
    value = os.environ.get(TIMEOUT_ENV, '')
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    # `not 0 < nan` too; `Thread.join` raises on NaN and beyond `TIMEOUT_MAX`.
    if seconds is None or not 0 < seconds <= threading.TIMEOUT_MAX:
        raise ConfigurationError(
            'The environment variable `%s` should be a number of seconds, more than 0 '
            'and at most %g (unset: %g); got %r.'
            % (TIMEOUT_ENV, threading.TIMEOUT_MAX, DEFAULT_TIMEOUT, value))
    return seconds


def bounded_run(session, op, feed, rank, label):
    """`session.run(op, feed)`, waiting at most `gather_timeout()` seconds.

    A collective some rank never joins blocks `session.run` for good, and TensorFlow's
    own `timeout_in_ms` cannot cancel a Horovod op; so it runs in a daemon thread.

    # Raises
        RanksDidNotJoin: In case the other ranks did not join in time.
    """
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
        raise RanksDidNotJoin(
            'Horovod rank %d waited %g s for the other ranks in keras-getpredict\'s %r '
            'exchange, which every rank makes at each epoch end of `fit`/`fit_generator` '
            "with `get_predict` (and in Horovod's `MetricAverageCallback` next to it); some "
            'rank never joined. Pass the same `get_predict` and the same callbacks on '
            'every rank (set %s to wait longer).' % (rank, timeout, label, TIMEOUT_ENV))
    if 'error' in done:
        raise done['error']
    return done['value']


class HorovodCollectives(object):
    """Allgather and allreduce-sum ops, one per graph and label, each run bounded."""

    _ops = weakref.WeakKeyDictionary()  # graph -> {label: (placeholder, op)}

    def __init__(self, hvd, family):
        self.hvd = hvd
        self.family = family

    def _run(self, label, dtype, shape, make, value):
        session = self.family.session()
        ops = self._ops.setdefault(session.graph, {})
        if label not in ops:
            with session.graph.as_default():
                placeholder = tf_v1().placeholder(
                    dtype, shape, name='keras_getpredict_%s' % label)
                ops[label] = (placeholder, make(placeholder, label))
        placeholder, op = ops[label]
        return bounded_run(session, op, {placeholder: value}, self.rank, label)

    def rows(self, row, label):
        """Every rank's int64 `row`, stacked by rank."""
        import tensorflow as tf
        row = np.asarray(row, np.int64).reshape(1, -1)
        return self._run('%s_%d' % (label, row.shape[1]), tf.int64, (None, row.shape[1]),
                         self._allgather, row)

    def payloads(self, payload, label):
        """Every rank's `uint8` vector, concatenated by rank."""
        import tensorflow as tf
        return self._run(label, tf.uint8, (None,), self._allgather,
                         np.asarray(payload, np.uint8))

    def sum(self, vector, label):
        """The element-wise sum of every rank's `vector` (no averaging): int64 (exact),
        or float64 for a float `vector` (graph sums)."""
        import tensorflow as tf
        if np.asarray(vector).dtype.kind == 'f':
            vector = np.asarray(vector, np.float64)
            return self._run('%s_f64_%d' % (label, vector.size), tf.float64, (vector.size,),
                             self._allreduce_sum, vector)
        vector = np.asarray(vector, np.int64)
        return self._run('%s_%d' % (label, vector.size), tf.int64, (vector.size,),
                         self._allreduce_sum, vector)

    def _allgather(self, placeholder, label):
        # Public Horovod API.
        return self.hvd.allgather(placeholder, name='keras_getpredict_allgather_%s' % label)

    def _allreduce_sum(self, placeholder, label):
        return self.hvd.allreduce(placeholder, op=self.hvd.Sum,
                                  name='keras_getpredict_allreduce_%s' % label)

    @property
    def rank(self):
        return self.hvd.rank()


def active_collectives(family):
    """`HorovodCollectives` of the running Horovod job, run in the session of `family`
    (the call's Keras family), or `None` when Horovod is not initialised with more than
    one rank."""
    hvd = horovod_if_active()
    return None if hvd is None else HorovodCollectives(hvd, family)


def required(collectives):
    """Raises unless `collectives` is given (`active_collectives(family)`: the caller
    knows the Keras family whose session runs them).

    # Raises
        ValueError: In case `collectives` is None.
    """
    if collectives is None:
        raise ValueError('`collectives` should be the running job\'s HorovodCollectives '
                         '(`active_collectives(family)`); got None.')


def handshake(collectives, description, steps, failed, payload_size, label=HANDSHAKE):
    """Every rank's handshake row (see `ROW`), in one collective; when the ranks'
    descriptions differ, a second exchange of them and a `ConfigurationError` on every
    rank.

    # Arguments
        collectives: a `HorovodCollectives` (or a stand-in with `rows`, `payloads`).
        description: what this rank sends, a JSON-able dict.
        steps: the batches this rank validated.
        failed: whether this rank's capture failed this epoch.
        payload_size: the size of what this rank sends next.
        label: the exchange's name, for its ops and messages (`HANDSHAKE` for
            both modes' epoch exchange).

    # Returns
        The rows, `(ranks, ROW)` int64: `[checksum, size, steps, failed, payload size]`.

    # Raises
        ConfigurationError: In case the ranks describe different things (unless some
            rank failed: then nothing is compared and nothing follows).
    """
    blob = np.frombuffer(json.dumps(description, sort_keys=True).encode('utf-8'), np.uint8)
    rows = collectives.rows([zlib.crc32(blob.tobytes()), blob.size, steps, int(bool(failed)),
                             payload_size], label)
    if rows[:, 3].any() or (len(set(rows[:, 0])) == 1 and len(set(rows[:, 1])) == 1):
        return rows
    everything = collectives.payloads(blob, label + '_descriptions')
    ends = np.cumsum(rows[:, 1])
    per_rank = [json.loads(bytes(everything[end - size:end]).decode('utf-8'))
                for end, size in zip(ends, rows[:, 1])]

    def values(key):
        return [json.dumps(d.get(key)) for d in per_rank]

    keys = [key for key in sorted(set().union(*per_rank)) if len(set(values(key))) > 1]
    if 'mode' in keys:
        # Ranks in different modes: the other keys describe different things.
        keys = ['mode']
    differing = ['%s: %s' % (key, ', '.join('rank %d %s' % (r, v)
                                            for r, v in enumerate(values(key))))
                 for key in keys]
    raise ConfigurationError(
        'The Horovod ranks capture differently, so what they exchange in keras-getpredict\'s '
        '%r collectives cannot match: %s. Pass the same `get_predict` and the same capturing '
        'callbacks on every rank.' % (label, '; '.join(differing)))
