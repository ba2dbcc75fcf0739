"""The `fit*`/`evaluate*` calls running in a thread: how deep, which one, and where from.

Only the outermost of a thread's running calls takes the requests of its callbacks and
of the open `capturing` blocks (`core/requests.py`): the calls Keras makes itself
(`fit_generator` validating through `evaluate_generator`, Keras >= 2.2.5's `fit` handing
a generator to `fit_generator`, Keras 2.1's `Sequential` forwarding to its inner model)
and calls made by callbacks while training runs are left as they are. `entry_point`
marks the four methods, in both forms, so the depth is known, and the name of the
running call (`running_call`) for messages.

A user whose library calls `fit_generator` (keras-retinanet's `train.py`, Mask R-CNN's
`MaskRCNN.train`) never wrote that call; an error about its arguments names the first
frame outside Keras and keras-getpredict (`outside_keras`), which is where it was made.
"""
from __future__ import absolute_import

import functools
import inspect
import os
import threading

_local = threading.local()

# This package's directory: keras_getpredict/ (run-time patch) or keras/ (the fork
# vendors these modules as keras/getpredict/, inside Keras itself).
_OURS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def entry_point(method):
    """Decorates `Model.fit`/`fit_generator`/`evaluate`/`evaluate_generator`: counts the
    thread's running calls, so `outermost()` tells a user's call from Keras' own."""
    name = method.__name__

    @functools.wraps(method)
    def call(*args, **kwargs):
        calls = _running()
        _local.calls = calls + (name,)
        try:
            return method(*args, **kwargs)
        finally:
            _local.calls = calls
    return call


def _running():
    return getattr(_local, 'calls', ())


def outermost():
    """Whether the running call is the thread's outermost `fit*`/`evaluate*` call."""
    return len(_running()) <= 1


def running_call():
    """The name of the thread's innermost running `fit*`/`evaluate*` call, as the
    caller wrote it (`'evaluate_generator'`), or `None` outside them."""
    calls = _running()
    return calls[-1] if calls else None


def _inside(filename, directories):
    filename = os.path.abspath(filename)
    return any(filename.startswith(d + os.sep) for d in directories)


def outside_keras():
    """`(filename, line)` of the innermost caller outside Keras (standalone Keras and
    tf.keras, whichever are imported) and keras-getpredict, or `None` when every frame
    is inside them."""
    from .families import keras_directories
    directories = [_OURS] + keras_directories()
    frame = inspect.currentframe()
    try:
        while frame is not None:
            filename = frame.f_code.co_filename
            if not filename.startswith('<') and not _inside(filename, directories):
                return filename, frame.f_lineno
            frame = frame.f_back
        return None
    finally:
        del frame
