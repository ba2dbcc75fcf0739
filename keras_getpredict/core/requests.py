"""Who asks for capture in one call, and their requests merged into one `Selection`.

A call's own `get_predict` asks; so may its callbacks and the open `capturing` blocks.
Any callback may ask for the capture it needs by carrying a `get_predict` attribute in
the language of the argument (keras-getpredict's own callbacks do: `EpochMetrics` asks
for its outputs, `MaskRCNNHeadMetrics` for `HEADS_GET_PREDICT`, `ReduceMetrics` for
a reducing spec). A callback that works with whatever is captured (`PredictionSaver`
saves predictions or counts) asks in `fallback_get_predict` instead: that request counts
only when nothing else in the call asks for anything.

```python
with keras_getpredict.capturing(callbacks=[MaskRCNNHeadMetrics(class_names)]):
    model.train(dataset_train, dataset_val, ...)   # a library's own fit_generator call
```

A `capturing` block (`Block`) gives every `fit*`/`evaluate*` call made inside it a
`get_predict` default and extra callbacks, for code that calls them where the user cannot
pass arguments. Blocks are thread-local and nest; leaving one restores what was there,
also on an exception. Only a thread's outermost call takes the blocks and the requests of
its callbacks (`core/calls.py`).

The requests of one call are merged key by key by the rules of `get_predict`'s language
(`selection.merge_selections`); across keys, one call captures one way: every request
uses the reducing mode or none, and graph sums do not ride with it. Two requests that
cannot be merged are a `ConfigurationError` (a `ValueError`) naming who asked for what.
`core/plan.py` is the one entry that collects, parses, merges and resolves them.
"""
from __future__ import absolute_import

import contextlib
import threading

from . import calls
from .failures import ConfigurationError
from .resolve import check_names
from .selection import merge_selections, parse_get_predict

#: The attribute a callback asks with.
REQUEST_ATTRIBUTE = 'get_predict'
#: The attribute of a request that counts only when nothing else asks.
FALLBACK_ATTRIBUTE = 'fallback_get_predict'
#: How messages name the call's own `get_predict`.
CALL = "the call's `get_predict`"


def requested_by(callback, attribute=REQUEST_ATTRIBUTE):
    """The `get_predict` value `callback` asks for, or `None` when it asks nothing
    (no such attribute, `None`/`False`, or a method of that name)."""
    value = getattr(callback, attribute, None)
    if value is None or value is False or callable(value):
        return None
    return value


def describe(callback):
    """How messages name a callback: its class name."""
    return type(callback).__name__


class Request(object):
    """One parsed request and who made it (`source`, for messages)."""

    def __init__(self, source, value, selection):
        self.source = source
        self.value = value
        self.selection = selection

    def __repr__(self):
        return '%s (get_predict=%r)' % (self.source, self.value)


def _asked_by(source, value, check):
    """`check()`, its configuration errors saying who asked (the call's own keep their
    wording)."""
    try:
        return check()
    except ConfigurationError as e:
        if source == CALL:
            raise
        raise type(e)('%s asks for capture with an invalid `get_predict` (%r): %s'
                      % (source, value, e))


def parse_request(source, value):
    """The `Request` of one `get_predict` value, or `None` when it asks nothing.

    # Raises
        ConfigurationError: In case the value is malformed (the message says who asked).
    """
    selection = _asked_by(source, value, lambda: parse_get_predict(value))
    return None if selection is None else Request(source, value, selection)


def check_requests(model, requests):
    """Checks each request's names against `model` (see `resolve.check_names`).

    # Raises
        ConfigurationError: In case one names an output, input or layer `model` does
            not have (the message says who asked).
    """
    for r in requests:
        _asked_by(r.source, r.value, lambda r=r: check_names(model, r.selection))


class MergeConflict(ConfigurationError):
    """Two requests of one call that cannot be merged (a `ConfigurationError`)."""


def _conflict(what, requests, values):
    return MergeConflict(
        'Cannot merge the capture requests of %s: they ask for different %s (%s). One call '
        'captures one way; make them ask alike, or pass the callbacks to separate calls.'
        % (', '.join(r.source for r in requests), what,
           '; '.join('%s: %r' % (r.source, v) for r, v in zip(requests, values))))


def _agreed(requests):
    """`agreed(what, value_of)` for `selection.merge_selections`: the one value the
    `requests` that spell `what` out give (`None` if none does)."""
    def agreed(what, value_of):
        spelled = [(r, value_of(r.selection)) for r in requests]
        spelled = [(r, v) for r, v in spelled if v is not None]
        if len(set(v for _, v in spelled)) > 1:
            raise _conflict(what, [r for r, _ in spelled], [v for _, v in spelled])
        return spelled[0][1] if spelled else None
    return agreed


def merge(requests):
    """One `Selection` for every `Request` of a call.

    # Returns
        The merged `Selection`, or `None` when nothing asks for capture.

    # Raises
        ConfigurationError: In case some ask for the reducing mode and others for
            full capture, or two spell out different reducing specs, `gather`,
            `shards` or graph sums of one name (the message names who asked).
    """
    requests = [r for r in requests if r is not None]
    if not requests:
        return None
    if len(requests) == 1:
        return requests[0].selection
    reducing = [r for r in requests if r.selection.reduce is not None]
    summing = [r for r in requests if r.selection.sums]
    if reducing and summing:
        raise MergeConflict(
            "Cannot merge the capture requests of %s: %s graph sums ('sums') and %s the "
            "reducing mode ('reduce'); give them to separate calls."
            % (', '.join(r.source for r in requests), ' and '.join(r.source for r in summing)
               + ' asks for', ' and '.join(r.source for r in reducing) + ' for'))
    if reducing and len(reducing) < len(requests):
        full = [r for r in requests if r.selection.reduce is None]
        raise MergeConflict(
            'Cannot merge the capture requests of %s: %s the reducing mode (counts only) '
            'and %s full capture (every batch kept). One call captures one way: give the '
            "callbacks that need predictions and those that need counts ('reduce') to "
            'separate calls.' % (', '.join(r.source for r in requests),
                                 ' and '.join(r.source for r in reducing) +
                                 (' asks for' if len(reducing) == 1 else ' ask for'),
                                 ' and '.join(r.source for r in full) +
                                 (' asks for' if len(full) == 1 else ' ask for')))
    try:
        return merge_selections([r.selection for r in requests], _agreed(requests))
    except MergeConflict:
        raise
    except ConfigurationError as e:
        # Graph sums of one name that differ: say whose they are.
        raise MergeConflict('Cannot merge the capture requests of %s: %s'
                            % (', '.join(r.source for r in requests if r.selection.sums), e))


# --- who asks: the call, its callbacks, the open `capturing` blocks -------------------

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


def blocks_for_call():
    """The blocks the running call takes: the open ones for the outermost call, none
    for a call made inside another."""
    return open_blocks() if calls.outermost() else ()


def call_callbacks(callbacks):
    """The callbacks a `fit`/`fit_generator` call trains with: `callbacks`, then those
    of the blocks it takes not already in it. The very same object when no block adds
    any."""
    extra = []
    for block in blocks_for_call():
        extra.extend(cb for cb in block.callbacks
                     if not any(cb is c for c in list(callbacks or []) + extra))
    if not extra:
        return callbacks
    return list(callbacks or []) + extra


def collect(get_predict, callbacks=(), blocks=(), source=CALL,
            block_source='the `capturing` block', block_callbacks=False):
    """The parsed `Request`s of one call: its own `get_predict` (asked by `source`),
    those of `callbacks` and of `blocks` (with `block_callbacks`, of the blocks'
    callbacks too: a call has them in `callbacks` already); when none of them asks,
    the callbacks' fallback requests (`fallback_get_predict`).

    # Raises
        ConfigurationError: In case one of them is malformed (the message says who
            asked).
    """
    callbacks = [('`callbacks`', cb) for cb in callbacks or ()]
    if block_callbacks:
        callbacks += [(block_source, cb) for block in blocks for cb in block.callbacks]
    requests = [parse_request(source, get_predict)]
    requests += [parse_request('%s (in %s)' % (describe(cb), where), requested_by(cb))
                 for where, cb in callbacks if requested_by(cb) is not None]
    requests += [parse_request(block_source, block.get_predict) for block in blocks]
    if not any(requests):
        requests = [parse_request('%s (in %s)' % (describe(cb), where),
                                  requested_by(cb, FALLBACK_ATTRIBUTE))
                    for where, cb in callbacks]
    return [r for r in requests if r is not None]
