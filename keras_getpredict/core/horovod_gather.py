"""Gathering each Horovod rank's validation predictions into the whole validation set.

Under Horovod every rank validates its own shard. When `horovod.keras` (or
`horovod.tensorflow`) is imported and initialised with more than one rank, `fit` and
`fit_generator` gather the shards at every epoch end (the publisher calls the mode's
combiner, `modes.combiner_for`, before any user callback runs), so
`logs['val_gts_and_preds']` holds the whole validation set. Horovod is never imported
here, so it stays an optional dependency.

The gather is two fixed collectives per epoch (`horovod_collectives.py`), the same on
every rank whatever it recorded: first the handshake (each rank's choices, step count,
whether its capture failed, payload size), then the payloads (the rank's arrays as raw
bytes behind a JSON header, see `gather_payload.py`). The handshake lets every rank see
every rank's step count and choices, so ranks that validated a different number of
steps, or chose differently, all raise the same `ConfigurationError` instead of leaving
one of them waiting in a collective.

The order of the gathered batches follows `get_predict['shards']`: see `gather_order.py`.
"""
from __future__ import absolute_import

import zlib

import numpy as np

from .families import metric_average_callbacks, wrap_metric_average
from .failures import ConfigurationError
from .gather_order import MERGERS
from .gather_payload import decode, encode
from .horovod_collectives import (  # noqa: F401 (TIMEOUT_ENV: documented here)
    TIMEOUT_ENV, active_collectives, handshake, required)
from .results import LOGS_KEY


def _payload_description(to, shards):
    return {'mode': 'predictions', 'gather': to, 'shards': shards}


def gather(gts_and_preds, to='all', shards='contiguous', collectives=None, failed=False):
    """Gathers every rank's predictions; call it on every rank, the same number of times.

    # Arguments
        gts_and_preds: this rank's `GtsAndPreds` (ignored when `failed`).
        to: `'all'` (every rank gets the whole set) or `'root'` (only rank 0 does).
        shards: `'contiguous'` or `'strided'`: how the ranks split the data.
        collectives: the running job's `HorovodCollectives` (`active_collectives`).
        failed: whether this rank's capture failed this epoch (it still takes part).

    # Returns
        The whole validation set as a `GtsAndPreds`; `None` on ranks other than 0
        when `to='root'`, when no rank recorded anything, and on every rank when some
        rank's capture failed.

    # Raises
        ConfigurationError: In case the ranks validated different numbers of steps or
            chose different `to`/`shards` (on every rank, before any collective
            could hang), or `shards` does not match the data.
        RanksDidNotJoin: In case some rank does not join within `TIMEOUT_ENV`
            seconds.
    """
    required(collectives)
    if failed:
        # Takes part, so no rank waits; nothing is gathered.
        handshake(collectives, {}, 0, True, 0)
        return None
    payload = encode(gts_and_preds)
    rows = handshake(collectives, _payload_description(to, shards),
                     len(gts_and_preds['y_pred']), False, payload.size)
    if rows[:, 3].any():
        return None
    steps = [int(n) for n in rows[:, 2]]
    if len(set(steps)) > 1:
        raise ConfigurationError(
            'The Horovod ranks validated different numbers of steps: %s (rank 0 '
            'first). Gathering their predictions needs the same number on every '
            'rank, as Horovod\'s collectives do: pass the same `validation_steps` '
            'on every rank, with shards that each hold that many batches (shard '
            'sizes may differ by less than one batch), or pass `get_predict='
            "{..., 'gather': False}` to keep each rank's own shard." % (steps,))
    blob = collectives.payloads(payload, 'gather_payloads')
    if to == 'root' and collectives.rank != 0:
        return None
    if sum(steps) == 0:
        return None
    sizes = rows[:, 4]
    ends = np.cumsum(sizes)
    parts = [decode(blob[end - size:end]) for end, size in zip(ends, sizes)]
    return MERGERS[shards](parts)


# ------------------------------------------------ Horovod's MetricAverageCallback

def check_same_keys(keys, collectives):
    """Raises `ValueError` on every rank unless every rank passes the same `keys`.

    `MetricAverageCallback` allreduces each logs key by name: a key only some ranks
    have (e.g. `EpochMetrics` on rank 0 only) leaves them waiting for good. One
    fixed exchange of a checksum finds that first; the names follow only when the
    checksums differ (every rank sees that, so every rank makes the second one).
    """
    blob = np.frombuffer('\n'.join(sorted(keys)).encode('utf-8'), np.uint8)
    counts = collectives.rows([zlib.crc32(blob.tobytes()), blob.size], 'logs_keys')
    if len(set(int(c) for c in counts[:, 0])) == 1 and len(set(counts[:, 1])) == 1:
        return
    names = collectives.payloads(blob, 'logs_key_names')
    ends = np.cumsum(counts[:, 1])
    per_rank = [set(filter(None, names[end - size:end].tobytes().decode('utf-8').split('\n')))
                for end, size in zip(ends, counts[:, 1])]
    everywhere = set.intersection(*per_rank)
    differing = ['%r on ranks %s' % (key, [r for r, ks in enumerate(per_rank) if key in ks])
                 for key in sorted(set.union(*per_rank) - everywhere)]
    raise ConfigurationError(
        "The Horovod ranks' epoch logs hold different keys, so Horovod's "
        '`MetricAverageCallback` (which averages every key on every rank) would wait '
        "for good: %s. Put `EpochMetrics` and other callbacks that add logs keys on "
        "every rank, with `get_predict={'gather': 'all'}` (the default of `fit`), or "
        'leave `MetricAverageCallback` out.' % ', '.join(differing))


def _step_over_predictions(average, family):
    def average_metrics_in_place(logs):
        collectives = active_collectives(family)
        if collectives is not None:
            check_same_keys([k for k in (logs or {}) if k != LOGS_KEY], collectives)
        if not logs or LOGS_KEY not in logs:
            return average(logs)
        # Averaged in a copy without the predictions, written back into `logs`.
        metrics = {k: v for k, v in logs.items() if k != LOGS_KEY}
        average(metrics)
        logs.update(metrics)
    return average_metrics_in_place


def step_over_predictions_in_metric_averages(callbacks, family):
    """Lets Horovod's `MetricAverageCallback`s among `callbacks` skip the predictions
    (`family`: the call's Keras family, in whose session the key check runs).

    It allreduces every logs entry as a tensor and would fail on the predictions.
    Each such instance gets an averaging method that leaves the entry out.

    # Returns
        A function that puts the instances back as they were.
    """
    undo = [wrap_metric_average(callback, lambda average: _step_over_predictions(average, family))
            for callback in metric_average_callbacks(callbacks)]

    def restore():
        for step in reversed(undo):
            step()
    return restore
