"""Keras callbacks that read every logs entry, taught to step over the predictions.

With `get_predict` off the entry never exists and each of these runs the original
with the very same `logs` object.
"""
from __future__ import absolute_import

from ..core import logs_filters
from .signatures import wraps_original


def make_history_on_epoch_end(original):
    @wraps_original(original)
    def on_epoch_end(self, epoch, logs=None):
        # History keeps every epoch of every key; predictions would grow memory
        # epoch after epoch, so it keeps only the last epoch's, as an attribute.
        return original(self, epoch, logs_filters.keep_last_predictions(self, logs))
    return on_epoch_end


def make_logs_filter(original):
    """For `CSVLogger.on_epoch_end` and `RemoteMonitor.on_epoch_end`."""
    @wraps_original(original)
    def on_epoch_end(self, epoch, logs=None):
        return original(self, epoch, logs_filters.without_predictions(logs))
    return on_epoch_end


def make_tensorboard_write_logs(original):
    @wraps_original(original)
    def _write_logs(self, logs, index):
        # Scalars are written exactly as before; entries TensorBoard's scalar
        # summary cannot hold (the predictions, other arrays) are skipped instead
        # of raising in the middle of training.
        return original(self, logs_filters.scalar_logs(logs), index)
    return _write_logs


def make_tensorboard_on_epoch_end(original):
    """For a `TensorBoard` whose `on_epoch_end` writes the logs itself (Keras 2.1)."""
    @wraps_original(original)
    def on_epoch_end(self, epoch, logs=None):
        return original(self, epoch, logs_filters.scalar_logs(logs))
    return on_epoch_end


#: The replacement for each method a Keras `TensorBoard` writes epoch logs with.
TENSORBOARD_LOGS_WRITERS = {'_write_logs': make_tensorboard_write_logs,
                            'on_epoch_end': make_tensorboard_on_epoch_end}
