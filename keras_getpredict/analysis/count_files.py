"""Reducing-mode counts in `.npz` files (written by `PredictionSaver`, read by
`keras-getpredict report`), without pickle.

Layout, next to the predictions files' `format`, `epoch`, `output_names`,
`log_names`, `log_values` (see `prediction_files`):

- `kind`: `'counts'` (predictions files have no `kind`).
- `num_classes`, `bins`, `threshold`, `batches`: the `ReduceSpec` and batch count.
- `confusion/<output>` `(C, C)`, `positives/<output>` and `negatives/<output>`
  `(C, bins)`, `ignored/<output>`: int64 counts (see `core/reduce_counts.py`).
"""
from __future__ import absolute_import

from collections import OrderedDict

import numpy as np

from ..core.logs_filters import is_scalar
from ..core.reduce_counts import OutputCounts, ReduceSpec, ReducedCounts
from . import count_metrics

KIND = 'counts'
FIELDS = ('confusion', 'positives', 'negatives', 'ignored')


def count_arrays(counts, epoch=None, logs=None, format_version=1):
    """The arrays of one `ReducedCounts` (see the module doc)."""
    spec = counts.spec
    arrays = OrderedDict([('format', np.int64(format_version)),
                          ('epoch', np.int64(-1 if epoch is None else epoch)),
                          ('kind', np.array(KIND, dtype='U')),
                          ('output_names', np.array(counts.output_names, dtype='U')),
                          ('num_classes', np.int64(spec.num_classes)),
                          ('bins', np.int64(spec.bins)),
                          ('threshold', np.float64(spec.threshold)),
                          ('batches', np.int64(counts.batches))])
    for name in counts.output_names:
        for field in FIELDS:
            arrays['%s/%s' % (field, name)] = np.asarray(getattr(counts[name], field),
                                                         np.int64)
    scalars = OrderedDict((k, float(np.asarray(v))) for k, v in sorted((logs or {}).items())
                          if is_scalar(v))
    arrays['log_names'] = np.array(list(scalars), dtype='U')
    arrays['log_values'] = np.array(list(scalars.values()), dtype='float64')
    return arrays


def is_count_file(arrays):
    return 'kind' in arrays and str(arrays['kind']) == KIND


class CountsFile(object):
    """A counts file as read back: `path`, `epoch`, `counts` (`ReducedCounts`),
    `logs` (`OrderedDict` of the epoch's scalar logs)."""

    def __init__(self, path, arrays):
        self.path = path
        self.epoch = int(arrays['epoch'])
        names = [str(n) for n in arrays['output_names']]
        spec = ReduceSpec(int(arrays['num_classes']), int(arrays['bins']),
                          float(arrays['threshold']))
        parts = dict((name, OutputCounts(spec.num_classes, spec.bins, *[
            arrays['%s/%s' % (field, name)] for field in FIELDS])) for name in names)
        self.counts = ReducedCounts(spec, names, parts, int(arrays['batches']))
        self.output_names = names
        self.logs = OrderedDict(zip([str(n) for n in arrays['log_names']],
                                    [float(v) for v in arrays['log_values']]))

    def __repr__(self):
        return 'CountsFile(%r, epoch=%d, outputs=%r)' % (self.path, self.epoch,
                                                         self.output_names)


def counts_table(counts, name, title):
    """The per-class table of one output's counts, as text."""
    result = count_metrics.output_metrics(counts)
    columns = ['iou', 'dice', 'precision', 'recall'] + (
        ['roc_auc', 'average_precision'] if 'roc_auc' in result else [])
    lines = [title, '%-8s' % 'class' + ''.join('%12s' % c[:11] for c in columns) +
             '%12s' % 'support']
    for k in range(counts.num_classes):
        lines.append('%-8d' % k + ''.join('%12.4f' % result[c][k] for c in columns) +
                     '%12d' % result['support'][k])
    lines.append('mean IoU %.4f  mean Dice %.4f  accuracy %.4f  (%d counted, %d ignored)'
                 % (result['mean_iou'], result['mean_dice'], result['accuracy'],
                    counts.samples, counts.ignored))
    return '\n'.join(lines)
