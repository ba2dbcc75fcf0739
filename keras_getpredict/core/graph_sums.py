"""Graph sums (`get_predict['sums']`): fixed-size per-batch sums computed by TensorFlow ops
in the validation session run, added up over the epoch, never the tensors they read.

A request names `GraphSum`-like objects (duck-typed: `name`, `key`, `tensor(model)`); the
validation fetches take each one's tensor alongside the stock loss (and whatever else the call
captures), the recorder adds each batch's values into one float64 array per sum, and the
publisher puts the totals under `logs['val_gts_and_preds']['sums']`. Memory is the size of
the sums whatever the number of batches. Under Horovod the totals of every rank are added
by one allreduce-sum after the handshake (`horovod.sums.sum_vector`, the reducing mode's
collective), so ranks may validate different numbers of steps.

Graph sums ride with full capture (predictions, inputs or layer outputs kept as well) or
alone (`{'sums': [...]}` captures no output); not with the reducing mode.
"""
from __future__ import absolute_import

from collections import OrderedDict

import numpy as np
import six

from .failures import ConfigurationError, ConfigurationTypeError

SUMS_KEY = 'sums'
SUMS_FORMS = ("a list of graph-sum objects, each with a string `name`, a hashable `key`, "
              "a `shape` (tuple) and a method `tensor(model)` returning a tensor of that "
              "shape")


def parse_sums(value):
    """A tuple of graph-sum objects from `get_predict['sums']`, names unique.

    # Raises
        ConfigurationTypeError: In case `value` is not a list of such objects (a
            `TypeError`).
        ConfigurationError: In case two of them share a name but not a key (a
            `ValueError`).
    """
    if not isinstance(value, (list, tuple)):
        value = [value]
    by_name = OrderedDict()
    for item in value:
        name = getattr(item, 'name', None)
        if not isinstance(name, six.string_types) or not callable(
                getattr(item, 'tensor', None)) or getattr(item, 'key', None) is None or \
                not isinstance(getattr(item, 'shape', None), tuple):
            raise ConfigurationTypeError(
                "`get_predict['sums']` should be %s; got %r." % (SUMS_FORMS, item))
        if name in by_name and by_name[name].key != item.key:
            raise ConfigurationError("`get_predict['sums']` has two sums named %r that differ: "
                                     '%r and %r.' % (name, by_name[name].key, item.key))
        by_name.setdefault(name, item)
    return tuple(by_name.values())


def sum_tensors(model, sums):
    """Each sum's tensor on `model`'s graph, as float64.

    # Raises
        ConfigurationError: In case a tensor's static shape is not the sum's `shape`
            (a graph sum keeps one fixed shape, whatever the batch).
    """
    import tensorflow as tf
    tensors = []
    for item in sums:
        tensor = tf.cast(item.tensor(model), tf.float64)
        if tensor.shape.as_list() != list(item.shape):
            raise ConfigurationError(
                "`get_predict['sums']` %r gives a tensor of shape %s, not its "
                '`shape` %s: a graph sum keeps one fixed shape.'
                % (item.name, tensor.shape, item.shape))
        tensors.append(tensor)
    return tensors


class EpochSums(OrderedDict):
    """What `logs['val_gts_and_preds']['sums']` holds: sum name -> its float64 total
    over the epoch's validation batches (`batches`, summed over Horovod ranks)."""

    def __init__(self, totals=(), batches=0):
        super(EpochSums, self).__init__(totals)
        self.batches = int(batches)

    def __reduce__(self):
        return (EpochSums, (list(self.items()), self.batches))


class SumTotals(object):
    """The running float64 totals of a call's graph sums, one array per sum."""

    def __init__(self):
        self.clear()

    def clear(self):
        self._totals = OrderedDict()

    def add(self, names, values):
        for name, value in zip(names, values):
            total = self._totals.get(name)
            if total is None:
                self._totals[name] = np.array(value, np.float64)
            else:
                total += value

    def take(self, sums, batches):
        """The `EpochSums` of `sums` over `batches` batches (zeros for a sum no batch
        reached), and a fresh start."""
        totals = EpochSums(batches=batches)
        for item in sums:
            total = self._totals.get(item.name)
            totals[item.name] = np.zeros(item.shape, np.float64) if total is None else total
        self.clear()
        return totals

    @property
    def nbytes(self):
        """Bytes held: the sums' size, whatever the number of batches."""
        return sum(total.nbytes for total in self._totals.values())


def sums_description(sums, to):
    """What ranks must agree on before their sums are added (the handshake's)."""
    return {'mode': 'sums', 'gather': to, 'sums': [[s.name, repr(s.key)] for s in sums]}


def published_sums(published, name):
    """The totals of the graph sum `name` in what the publisher put into the logs
    (`logs['val_gts_and_preds']`), or `None`."""
    if not isinstance(published, dict):
        return None
    return (published.get(SUMS_KEY) or {}).get(name)
