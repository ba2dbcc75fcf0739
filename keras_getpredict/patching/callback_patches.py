"""Keras callbacks that read every logs entry, taught to step over the predictions.

With `get_predict` off the entry never exists and each of these runs the original
with the very same `logs` object.
"""
from __future__ import absolute_import

import numbers

import numpy as np

from ..core.results import LOGS_KEY


def _without_predictions(logs):
    if logs and LOGS_KEY in logs:
        return {k: v for k, v in logs.items() if k != LOGS_KEY}
    return logs


def make_history_on_epoch_end(original):
    def on_epoch_end(self, epoch, logs=None):
        # History keeps every epoch of every key; predictions would grow memory
        # epoch after epoch, so it keeps only the last epoch's, as an attribute.
        if logs and LOGS_KEY in logs:
            self.val_gts_and_preds = logs[LOGS_KEY]
        return original(self, epoch, _without_predictions(logs))
    on_epoch_end.__wrapped__ = original
    on_epoch_end.__doc__ = original.__doc__
    return on_epoch_end


def make_logs_filter(original):
    """For `CSVLogger.on_epoch_end` and `RemoteMonitor.on_epoch_end`."""
    def on_epoch_end(self, epoch, logs=None):
        return original(self, epoch, _without_predictions(logs))
    on_epoch_end.__wrapped__ = original
    on_epoch_end.__doc__ = original.__doc__
    return on_epoch_end


def _is_scalar(value):
    if isinstance(value, np.ndarray):
        return value.size == 1
    return isinstance(value, (numbers.Number, np.generic))


def make_tensorboard_write_logs(original):
    def _write_logs(self, logs, index):
        # Scalars are written exactly as before; entries TensorBoard's scalar
        # summary cannot hold (the predictions, other arrays) are skipped instead
        # of raising in the middle of training.
        if logs and any(not _is_scalar(v) for k, v in logs.items()
                        if k not in ('batch', 'size')):
            logs = {k: v for k, v in logs.items()
                    if k in ('batch', 'size') or _is_scalar(v)}
        return original(self, logs, index)
    _write_logs.__wrapped__ = original
    _write_logs.__doc__ = original.__doc__
    return _write_logs
