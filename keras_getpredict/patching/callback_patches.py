"""Keras callbacks that read every logs entry, taught to step over the predictions.

With `get_predict` off the entry never exists and each of these runs the original
with the very same `logs` object.
"""
from __future__ import absolute_import

from ..core import logs_filters
from .methods import wraps_original


def _on_epoch_end_through(logs_filter):
    """A factory of `on_epoch_end` replacements that hand the original
    `logs_filter(callback, logs)` instead of `logs`."""
    def make(original):
        @wraps_original(original)
        def on_epoch_end(self, epoch, logs=None):
            return original(self, epoch, logs_filter(self, logs))
        return on_epoch_end
    return make


# History keeps every epoch of every key; predictions would grow memory epoch after
# epoch, so it keeps only the last epoch's, as an attribute.
make_history_on_epoch_end = _on_epoch_end_through(logs_filters.keep_last_predictions)
# For `CSVLogger.on_epoch_end` and `RemoteMonitor.on_epoch_end`.
make_logs_filter = _on_epoch_end_through(
    lambda callback, logs: logs_filters.without_predictions(logs))
# For a `TensorBoard` whose `on_epoch_end` writes the logs itself (Keras 2.1).
make_tensorboard_on_epoch_end = _on_epoch_end_through(
    lambda callback, logs: logs_filters.scalar_logs(logs))


def make_tensorboard_write_logs(original):
    @wraps_original(original)
    def _write_logs(self, logs, index):
        # Scalars are written exactly as before; entries TensorBoard's scalar
        # summary cannot hold (the predictions, other arrays) are skipped instead
        # of raising in the middle of training.
        return original(self, logs_filters.scalar_logs(logs), index)
    return _write_logs


def make_tensorboard_write_custom_summaries(original):
    @wraps_original(original)
    def _write_custom_summaries(self, step, logs=None):
        # tf.keras' TensorBoard v1 (callbacks_v1.py): scalars only, as `_write_logs`.
        return original(self, step, logs_filters.scalar_logs(logs))
    return _write_custom_summaries


def make_tensorboard_log_metrics(original):
    @wraps_original(original)
    def _log_metrics(self, logs, prefix, step):
        # tf.keras' v2 TensorBoard (callbacks.py): its scalar summary of every entry.
        return original(self, logs_filters.scalar_logs(logs), prefix, step)
    return _log_metrics


#: The replacement for each method a Keras `TensorBoard` writes epoch logs with.
TENSORBOARD_LOGS_WRITERS = {'_write_logs': make_tensorboard_write_logs,
                            'on_epoch_end': make_tensorboard_on_epoch_end,
                            '_write_custom_summaries': make_tensorboard_write_custom_summaries}
