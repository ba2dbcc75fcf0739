"""Horovod's Keras integration: whether a job runs, and its metric averaging.

Never imports Horovod (it stays an optional dependency): everything is read from
`sys.modules`.
"""
from __future__ import absolute_import

import sys

from .messages import missing_message

#: Where Horovod's `MetricAverageCallback` keeps its averaging code.
HOROVOD_CALLBACKS_MODULE = 'horovod._keras.callbacks'
#: Name under which Horovod's TensorFlow API lives once `horovod.keras` is imported.
HOROVOD_MODULE = 'horovod.tensorflow'
# horovod/_keras/callbacks.py, `MetricAverageCallbackImpl`: its allreduce of the logs.
_HOROVOD_AVERAGE = '_average_metrics_in_place'


def horovod_if_active():
    """The `horovod.tensorflow` module when it is initialised with more than one rank,
    else `None`."""
    hvd = sys.modules.get(HOROVOD_MODULE)
    if hvd is None:
        return None
    try:
        # Horovod before 0.20 has no `is_initialized`: its `size()` raises ValueError
        # until `hvd.init()`. Taking its absence for "not distributed" would leave each
        # rank publishing only its own shard.
        is_initialized = getattr(hvd, 'is_initialized', None)
        if is_initialized is not None and not is_initialized():
            return None
        return hvd if hvd.size() > 1 else None
    except (AttributeError, ValueError):
        # A partial import, or an initialisation that failed: not distributed.
        return None


def metric_average_callbacks(callbacks):
    """The Horovod `MetricAverageCallback`s among `callbacks` (none when Horovod's
    Keras callbacks are not imported); horovod/_keras/callbacks.py,
    `MetricAverageCallbackImpl`."""
    module = sys.modules.get(HOROVOD_CALLBACKS_MODULE)
    impl = getattr(module, 'MetricAverageCallbackImpl', None)
    if impl is None:
        return []
    return [callback for callback in callbacks if isinstance(callback, impl)]


def wrap_metric_average(callback, make):
    """Replaces one `MetricAverageCallback` instance's allreduce of the logs by
    `make(original)`. Returns a function that undoes it.

    horovod/_keras/callbacks.py, `MetricAverageCallbackImpl._average_metrics_in_place`.

    # Raises
        RuntimeError: In case this Horovod has no such method (it was renamed):
            stepping over the predictions would silently do nothing.
    """
    original = getattr(callback, _HOROVOD_AVERAGE, None)
    if original is None:
        raise RuntimeError(missing_message(['%s.MetricAverageCallbackImpl.%s' % (
            HOROVOD_CALLBACKS_MODULE, _HOROVOD_AVERAGE)]))
    if _HOROVOD_AVERAGE in vars(callback):
        return lambda: None  # already wrapped by an enclosing call
    setattr(callback, _HOROVOD_AVERAGE, make(original))
    return lambda: delattr(callback, _HOROVOD_AVERAGE)


def internals():
    """`(name, present)` pairs of what the metric averaging relies on, when Horovod's
    Keras callbacks are imported."""
    module = sys.modules.get(HOROVOD_CALLBACKS_MODULE)
    if module is None:
        return []
    return [(
        '%s.MetricAverageCallbackImpl.%s' % (HOROVOD_CALLBACKS_MODULE, _HOROVOD_AVERAGE),
        lambda: hasattr(getattr(module, 'MetricAverageCallbackImpl', None),
                        _HOROVOD_AVERAGE))]
