"""Gathering each Horovod rank's validation predictions into the whole validation set.

Under Horovod every rank validates its own shard. When `horovod.keras` (or
`horovod.tensorflow`) is imported and initialised with more than one rank, `fit` and
`fit_generator` gather the shards at every epoch end, before any user callback runs,
so `logs['val_gts_and_preds']` holds the whole validation set. Horovod is never
imported here: we only look at `sys.modules`, so it stays an optional dependency.

The gather is two fixed Horovod allgathers per epoch, the same on every rank whatever
it recorded: first each rank's `[batches, payload bytes]`, then the payloads (the
rank's arrays as raw bytes behind a JSON header: nothing is pickled). The
first one lets every rank see every rank's step count, so ranks that validated a
different number of steps all raise the same `ValueError` instead of leaving one of
them waiting in a collective.

Order of the gathered batches:
- `shards='contiguous'` (default): rank 0's batches, then rank 1's, ... This is the
  original sample order when rank r holds the r-th block of the data (for example
  `np.array_split(indices, hvd.size())[hvd.rank()]`), and a deterministic order
  otherwise.
- `shards='strided'`: rank r holds samples `r, r + size, r + 2 * size, ...`
  (`indices[hvd.rank()::hvd.size()]`); samples are interleaved back into their
  original order and cut into batches of the first batch's size.
"""
from __future__ import absolute_import

import contextlib
import json
import sys
import weakref

import numpy as np

from .results import LOGS_KEY, GtsAndPreds, concat_batches

#: Name under which Horovod's TensorFlow API lives once `horovod.keras` is imported.
HOROVOD_MODULE = 'horovod.tensorflow'
#: Where `hvd.callbacks.MetricAverageCallback` keeps its averaging code.
HOROVOD_CALLBACKS_MODULE = 'horovod._keras.callbacks'


def horovod_if_active():
    """Returns the `horovod.tensorflow` module when it is initialised with more than
    one rank, else `None`. Never imports Horovod."""
    hvd = sys.modules.get(HOROVOD_MODULE)
    if hvd is None:
        return None
    try:
        if not hvd.is_initialized():
            return None
        return hvd if hvd.size() > 1 else None
    except (AttributeError, ValueError):
        # A partial import, or an initialisation that failed: not distributed.
        return None


# ---------------------------------------------------------------- serialisation

def _check_array(value, where):
    array = np.ascontiguousarray(value)
    if array.dtype.hasobject or array.dtype.fields is not None:
        raise TypeError('Cannot gather %s across Horovod ranks: its dtype is %s '
                        '(plain numeric, bool and string arrays only).' % (where, array.dtype))
    return array


# A payload: 8 bytes (little-endian header length), a JSON header (names, batch count,
# and each array's key, dtype, shape), then the arrays' bytes back to back. Plain bytes
# and JSON, no pickle; one buffer, far cheaper than one zip member per array.
_HEADER_LENGTH = np.dtype('<u8')


def encode(gts_and_preds):
    """Serialises one rank's `GtsAndPreds` into a `uint8` vector."""
    arrays = []
    for key in ('y_true', 'y_pred'):
        for b, entry in enumerate(gts_and_preds[key]):
            parts = entry if isinstance(entry, list) else [entry]
            for o, part in enumerate(parts):
                if part is not None:
                    where = "'%s' of batch %d" % (key, b)
                    arrays.append(('%s/%d/%d' % (key, b, o), _check_array(part, where)))
    inputs = gts_and_preds.get('inputs', {})
    for i, name in enumerate(inputs):
        for b, value in enumerate(inputs[name]):
            if value is not None:
                where = "input '%s' of batch %d" % (name, b)
                arrays.append(('inputs/%d/%d' % (i, b), _check_array(value, where)))
    header = json.dumps({
        'output_names': list(gts_and_preds.output_names),
        'input_names': list(inputs),
        'batches': len(gts_and_preds['y_pred']),
        'arrays': [[key, a.dtype.str, list(a.shape)] for key, a in arrays],
    }).encode('utf-8')
    chunks = [np.array([len(header)], _HEADER_LENGTH).tobytes(), header]
    chunks.extend(a.tobytes() for _, a in arrays)
    return np.frombuffer(b''.join(chunks), dtype=np.uint8)


def decode(payload):
    """Reads back what `encode` wrote: a `GtsAndPreds` (each array its own copy)."""
    buffer = np.asarray(payload, dtype=np.uint8)
    length = int(buffer[:_HEADER_LENGTH.itemsize].view(_HEADER_LENGTH)[0])
    offset = _HEADER_LENGTH.itemsize + length
    header = json.loads(buffer[_HEADER_LENGTH.itemsize:offset].tobytes().decode('utf-8'))
    arrays = {}
    for key, dtype, shape in header['arrays']:
        dtype = np.dtype(dtype)
        size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        arrays[key] = buffer[offset:offset + size].view(dtype).reshape(shape).copy()
        offset += size
    output_names, input_names = header['output_names'], header['input_names']
    batches = header['batches']
    # One output: bare arrays, as `BatchRecorder` stores them.
    single = len(output_names) == 1

    def entry(key, b):
        parts = [arrays.get('%s/%d/%d' % (key, b, o)) for o in range(len(output_names))]
        return parts[0] if single else parts

    y_true = [entry('y_true', b) for b in range(batches)]
    y_pred = [entry('y_pred', b) for b in range(batches)]
    inputs = {name: [arrays.get('inputs/%d/%d' % (i, b)) for b in range(batches)]
              for i, name in enumerate(input_names)}
    return GtsAndPreds(output_names, y_true, y_pred, inputs)


# ---------------------------------------------------------------------- ordering

def _names_of(shards):
    for shard in shards:
        if shard['y_pred']:
            return shard.output_names, list(shard.get('inputs', {}))
    return shards[0].output_names, list(shards[0].get('inputs', {}))


def merge_contiguous(shards):
    """Rank 0's batches, then rank 1's, ...: one `GtsAndPreds`."""
    output_names, input_names = _names_of(shards)
    y_true, y_pred = [], []
    inputs = {name: [] for name in input_names}
    for shard in shards:
        y_true.extend(shard['y_true'])
        y_pred.extend(shard['y_pred'])
        for name in input_names:
            inputs[name].extend(shard.get('inputs', {}).get(name, []))
    return GtsAndPreds(output_names, y_true, y_pred, inputs)


def _batch_len(entry):
    return len(entry[0]) if isinstance(entry, list) else len(entry)


def _samples(shard):
    return sum(_batch_len(entry) for entry in shard['y_pred'])


def _interleave(parts, total):
    """`parts[r]` holds samples r, r + size, ...; returns them in sample order."""
    if parts[0] is None:
        return None
    out = np.empty((total,) + parts[0].shape[1:], dtype=np.result_type(*parts))
    for r, part in enumerate(parts):
        out[r::len(parts)] = part
    return out


def _cut(array, batch_size):
    if array is None:
        return None
    return [array[i:i + batch_size] for i in range(0, len(array), batch_size)]


def merge_strided(shards):
    """Undoes a strided split (rank r holds samples r, r + size, ...).

    # Raises
        ValueError: In case the shard sizes cannot come from a strided split, or
            batches differ in shape beyond the sample axis.
    """
    sizes = [_samples(shard) for shard in shards]
    if any(a < b for a, b in zip(sizes, sizes[1:])) or sizes[0] - sizes[-1] > 1:
        raise ValueError("`get_predict['shards']='strided'` expects rank r to hold "
                         'samples r, r + size, r + 2 * size, ... (shard sizes '
                         'non-increasing by rank, differing by at most 1); the ranks '
                         'validated %s samples. Use the default '
                         "`'contiguous'` for other splits." % sizes)
    total = sum(sizes)
    output_names, input_names = _names_of(shards)
    # Ranks without samples (more ranks than samples) sit at the end of a strided
    # split and take no position in the interleave.
    filled = [shard for shard in shards if shard['y_pred']]
    if not filled:
        return merge_contiguous(shards)
    flats = [concat_batches(shard) for shard in filled]
    batch_size = _batch_len(filled[0]['y_pred'][0])

    def rebatch(key):
        column = [flat[key] for flat in flats]
        if not isinstance(column[0], list):
            return _cut(_interleave(column, total), batch_size)
        per_output = [_cut(_interleave([c[o] for c in column], total), batch_size)
                      for o in range(len(column[0]))]
        return [[None if p is None else p[b] for p in per_output]
                for b in range(-(-total // batch_size))]

    y_true, y_pred = rebatch('y_true'), rebatch('y_pred')
    inputs = {name: _cut(_interleave([flat['inputs'][name] for flat in flats], total),
                         batch_size)
              for name in input_names}
    if y_true is None:
        y_true = [None] * len(y_pred)
    return GtsAndPreds(output_names, y_true, y_pred, inputs)


MERGERS = {'contiguous': merge_contiguous, 'strided': merge_strided}


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
        hvd = horovod_if_active()
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
    hvd = horovod_if_active()
    if hvd is None:
        return None
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


@contextlib.contextmanager
def metric_averages_step_over_predictions(callbacks):
    """Lets Horovod's `MetricAverageCallback` among `callbacks` skip the predictions.

    It allreduces every logs entry as a tensor and would fail on the predictions.
    For the duration of the block each such instance gets an averaging method that
    leaves the entry out; the instances and their class are as they were afterwards.
    """
    module = sys.modules.get(HOROVOD_CALLBACKS_MODULE)
    impl = getattr(module, 'MetricAverageCallbackImpl', None)
    patched = []
    if impl is not None:
        for callback in callbacks:
            if (isinstance(callback, impl) and
                    '_average_metrics_in_place' not in vars(callback)):
                callback._average_metrics_in_place = _step_over_predictions(
                    callback._average_metrics_in_place)
                patched.append(callback)
    try:
        yield
    finally:
        for callback in patched:
            del callback._average_metrics_in_place
