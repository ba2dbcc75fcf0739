"""The `capturing` block, and which call of a thread takes it.

```python
with keras_getpredict.capturing(callbacks=[MaskRCNNHeadMetrics(class_names)]):
    model.train(dataset_train, dataset_val, ...)   # a library's own fit_generator call
```

A block gives every `fit*`/`evaluate*` call made inside it a `get_predict` default and
extra callbacks, for code that calls them where the user cannot pass arguments. Blocks
are thread-local and nest; leaving one restores what was there, also on an exception.

Only the outermost of a thread's running `fit*`/`evaluate*` calls takes the blocks and
the requests of its callbacks: the calls Keras makes itself (`fit_generator` validating
through `evaluate_generator`, Keras >= 2.2.5's `fit` handing a generator to
`fit_generator`, Keras 2.1's `Sequential` forwarding to its inner model) and calls made
by callbacks while training runs are left as they are. `entry_point` marks the four
methods, in both forms, so the depth is known, and the name of the running call
(`running_call`) for messages.
"""
from __future__ import absolute_import

import contextlib
import functools
import threading

_local = threading.local()


class Block(object):
    """One `capturing` block: the `get_predict` it gives and the callbacks it adds."""

    def __init__(self, get_predict, callbacks):
        self.get_predict = get_predict
        self.callbacks = tuple(callbacks)

    def __repr__(self):
        return 'capturing(get_predict=%r, callbacks=%r)' % (
            self.get_predict, list(self.callbacks))


def open_blocks():
    """The blocks open in this thread, outermost first."""
    return getattr(_local, 'blocks', ())


@contextlib.contextmanager
def opened(block):
    """Opens `block` in this thread for the length of the `with`."""
    previous = open_blocks()
    _local.blocks = previous + (block,)
    try:
        yield block
    finally:
        _local.blocks = previous


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


def blocks_for_call():
    """The blocks the running call takes: the open ones for the outermost call, none
    for a call made inside another."""
    return open_blocks() if outermost() else ()
