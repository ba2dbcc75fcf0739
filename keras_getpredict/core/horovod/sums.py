"""Summing each Horovod rank's reducing-mode counts into the whole validation set's.

In reducing mode (`get_predict['reduce']`) every rank holds fixed-shape counts, so
the ranks need one allreduce-sum of one int64 vector per epoch instead of an allgather
of predictions: `[batches] + each counted output's OutputCounts.flat()`, in output
order. Its length depends only on the spec and the outputs, never on the data, so a
rank that validated nothing still takes part with zeros, and the collective is the
same on every rank whatever they recorded. The handshake before it
(`collectives.handshake`: the same bounded collective as gathering's) checks that
every rank counts the same way, and that no rank gathers predictions instead, so a
mismatch is an error on every rank rather than a hang.

Graph sums (`get_predict['sums']`, `core/graph_sums.py`) go through the same handshake and
sum (`sum_vector`), as one float64 vector `[batches] + each sum's totals`.
"""
from __future__ import absolute_import

import numpy as np

from ..graph_sums import EpochSums, sums_description
from ..reduce_counts import OutputCounts, ReducedCounts
from .collectives import handshake, required


def pack(counts):
    """`ReducedCounts` -> one int64 vector (see the module doc)."""
    return np.concatenate([[counts.batches]] +
                          [counts[name].flat() for name in counts.output_names])


def unpack(vector, like):
    """The inverse of `pack`, shaped like the `ReducedCounts` `like`."""
    spec = like.spec
    size = OutputCounts.flat_size(spec.num_classes, spec.bins)
    parts = {}
    for i, name in enumerate(like.output_names):
        parts[name] = OutputCounts.from_flat(vector[1 + i * size:1 + (i + 1) * size],
                                             spec.num_classes, spec.bins)
    return ReducedCounts(spec, like.output_names, parts, int(vector[0]))


def _counts_description(counts, to):
    spec = counts.spec
    # What the summed vector's layout depends on, and what makes counts comparable
    # (`on_graph` gives the same counts either way).
    return {'mode': 'reduce', 'gather': to, 'num_classes': spec.num_classes,
            'bins': spec.bins, 'threshold': spec.threshold,
            'outputs': list(counts.output_names)}


def sum_counts(counts, to='all', collectives=None, failed=False):
    """Every rank's counts summed; call it on every rank, the same number of times.

    # Arguments
        counts: this rank's `ReducedCounts` (ignored when `failed`).
        to: `'all'` (every rank gets the sum) or `'root'` (only rank 0 does).
        collectives: a `HorovodCollectives` (or a stand-in with `rows`, `payloads`,
            `sum` and `rank`): the running job's, `active_collectives(family)`.
        failed: whether this rank's capture failed this epoch (it still takes part).

    # Returns
        The summed `ReducedCounts`; `None` on ranks other than 0 when
        `to='root'`, when no rank recorded a batch, and on every rank when some
        rank's capture failed.

    # Raises
        ConfigurationError: In case the ranks count differently (another
            `num_classes`, `bins`, `threshold`, output list or `gather`), on every
            rank, before the sum could hang on vectors of different sizes.
        RanksDidNotJoin: In case some rank does not join within the timeout.
    """
    if failed:
        return sum_vector(None, None, to, collectives, failed, 'sum_counts')
    summed = sum_vector(pack(counts), _counts_description(counts, to), to, collectives,
                        False, 'sum_counts')
    if summed is None:
        return None
    total = unpack(np.asarray(summed, np.int64), counts)
    return total if total.batches else None


def sum_vector(vector, description, to, collectives, failed, label):
    """Every rank's `vector` summed, after the handshake: the one collective of the
    reducing mode's counts and of graph sums. Call it on every rank, the same number
    of times; `vector[0]` is the rank's batch count.

    # Arguments
        vector: this rank's int64 or float64 vector (ignored when `failed`);
            its length and `description` must be the same on every rank.
        description: what the handshake compares across ranks (JSON-able).
        to: `'all'` or `'root'`.
        collectives: the running job's `HorovodCollectives` (`active_collectives(family)`).
        failed: whether this rank's capture failed this epoch (it still takes part).
        label: the sum's name, for its op.

    # Returns
        The summed vector; `None` on ranks other than 0 when `to='root'`, and on
        every rank when some rank's capture failed.

    # Raises
        ConfigurationError: In case the ranks describe different things (on every
            rank, before the sum could hang on vectors of different sizes).
    """
    required(collectives)
    if failed:
        # Takes part, so no rank waits; nothing is summed.
        handshake(collectives, {}, 0, True, 0)
        return None
    rows = handshake(collectives, description, int(vector[0]), False, vector.size)
    if rows[:, 3].any():
        return None
    total = np.asarray(collectives.sum(vector, label))
    if to == 'root' and collectives.rank != 0:
        return None
    return total


def sum_sums(totals, sums, to='all', collectives=None, failed=False):
    """Every rank's graph-sum totals summed (see `sum_vector`).

    # Arguments
        totals: this rank's `EpochSums` (ignored when `failed`).
        sums: the selection's graph-sum objects (names, keys and shapes, the same
            on every rank).

    # Returns
        The `EpochSums` summed over the ranks, or `None` as `sum_vector`.
    """
    description = sums_description(sums, to)
    if failed:
        return sum_vector(None, description, to, collectives, True, 'sum_sums')
    vector = np.concatenate([[float(totals.batches)]] + [
        np.asarray(totals[s.name], np.float64).ravel() for s in sums])
    summed = sum_vector(vector, description, to, collectives, False, 'sum_sums')
    if summed is None:
        return None
    out, start = EpochSums(batches=int(round(summed[0]))), 1
    for s in sums:
        size = int(np.prod(s.shape, dtype=np.int64))
        out[s.name] = summed[start:start + size].reshape(s.shape)
        start += size
    return out
