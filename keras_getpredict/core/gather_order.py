"""Putting the ranks' shards back together in a deterministic order.

- `merge_contiguous`: rank 0's batches, then rank 1's, ... This is the original sample
  order when rank r holds the r-th block of the data (for example
  `np.array_split(indices, hvd.size())[hvd.rank()]`), and a deterministic order
  otherwise.
- `merge_strided`: rank r holds samples `r, r + size, r + 2 * size, ...`
  (`indices[hvd.rank()::hvd.size()]`); samples are interleaved back into their
  original order and cut into batches of the first batch's size.
"""
from __future__ import absolute_import

import numpy as np

from .results import GtsAndPreds, concat_batches


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
