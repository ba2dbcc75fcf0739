"""What Keras' own callbacks are shown of the epoch logs once they hold predictions.

`History`, `CSVLogger`, `RemoteMonitor` and `TensorBoard` read every logs entry; the
predictions entry is not a metric. Both forms use these functions: the run-time patch
wraps those callbacks' methods around them, the fork calls them in place.
"""
from __future__ import absolute_import

import numbers

import numpy as np

from .results import LOGS_KEY

#: Entries of batch logs that are bookkeeping, not metrics.
BATCH_KEYS = ('batch', 'size')


def is_scalar(value):
    """Whether a logs value is one real number: what a scalar summary, a CSV column
    or a prediction file's `log_values` can hold.

    Numbers, numpy scalars and one-element numeric arrays are; bools, strings,
    lists, larger arrays and the predictions entry are not.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        return value.size == 1 and value.dtype.kind in 'biuf'
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def without_predictions(logs):
    """`logs` minus the predictions entry; the very same dict when it has none."""
    if logs and LOGS_KEY in logs:
        return {k: v for k, v in logs.items() if k != LOGS_KEY}
    return logs


def scalar_logs(logs):
    """`logs` with only bookkeeping keys and scalars; the same dict when nothing is dropped.

    For `TensorBoard._write_logs`, whose scalar summary would fail on the
    predictions entry (or any other array) in the middle of training.
    """
    if logs and any(not is_scalar(v) for k, v in logs.items() if k not in BATCH_KEYS):
        return {k: v for k, v in logs.items() if k in BATCH_KEYS or is_scalar(v)}
    return logs


def keep_last_predictions(history, logs):
    """`History` keeps every epoch of every key; the predictions would grow memory
    epoch after epoch, so it keeps only the last epoch's, as `val_gts_and_preds`.

    # Returns
        The logs `History` records: `logs` without the predictions entry.
    """
    if logs and LOGS_KEY in logs:
        history.val_gts_and_preds = logs[LOGS_KEY]
    return without_predictions(logs)
