"""What one call captures when the call, its callbacks and the `capturing` blocks each ask.

Any callback may ask for the capture it needs by carrying a `get_predict` attribute in
the language of the argument (keras-getpredict's own callbacks do: `EpochMetrics` asks
for its outputs, `MaskRCNNHeadMetrics` for `HEADS_GET_PREDICT`, `ReduceMetrics` for
a reducing spec). The requests of one call are merged into one `Selection`:

- outputs, inputs and layers: the union (outputs then follow the model's order);
- graph sums (`'sums'`): the union by name (two of one name must be the same sum); a
  request of sums alone merges with full capture, not with the reducing mode;
- the reducing mode: every request must use it or none; their specs must agree on each
  key more than one of them spells out (a key one leaves out takes the other's value);
- `gather` and `shards`: those spelled out must agree.

Two requests that cannot be merged are a `ConfigurationError` (a `ValueError`) naming who
asked for what.

A callback that works with whatever is captured (`PredictionSaver` saves predictions
or counts) asks in `fallback_get_predict` instead: that request counts only when
nothing else in the call asks for anything.
"""
from __future__ import absolute_import

from .failures import ConfigurationError
from .graph_sums import parse_sums
from .selection import Selection, check_names, parse_get_predict
from .reduce_spec import ReduceSpec

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


def parse_request(source, value, model):
    """`Request` of one `get_predict` value, checked against `model`'s names.

    Errors of the call's own argument keep their wording; those of another source
    say which one asked.
    """
    try:
        selection = parse_get_predict(value)
        if selection is not None:
            check_names(model, selection)
    except ConfigurationError as e:
        if source == CALL:
            raise
        raise type(e)('%s asks for capture with an invalid `get_predict` (%r): %s'
                      % (source, value, e))
    return None if selection is None else Request(source, value, selection)


def _union(groups):
    merged = []
    for group in groups:
        merged.extend(item for item in group if item not in merged)
    return tuple(merged)


def _conflict(what, requests, values):
    return ConfigurationError(
        'Cannot merge the capture requests of %s: they ask for different %s (%s). One call '
        'captures one way; make them ask alike, or pass the callbacks to separate calls.'
        % (', '.join(r.source for r in requests), what,
           '; '.join('%s: %r' % (r.source, v) for r, v in zip(requests, values))))


def _agreed(requests, what, value_of):
    """The one value the `requests` that spell `what` out give (`None` if none does)."""
    spelled = [(r, value_of(r)) for r in requests]
    spelled = [(r, v) for r, v in spelled if v is not None]
    if len(set(v for _, v in spelled)) > 1:
        raise _conflict(what, [r for r, _ in spelled], [v for _, v in spelled])
    return spelled[0][1] if spelled else None


def _merge_reduce(requests):
    specs = [r.selection.reduce for r in requests]
    values = {}
    for key in ('num_classes', 'bins', 'threshold', 'on_graph'):
        values[key] = _agreed(requests, "reducing specs ('%s')" % key,
                              lambda r, key=key: (getattr(r.selection.reduce, key)
                                                  if key in r.selection.reduce.given
                                                  else None))
    first = specs[0]
    given = set().union(*(spec.given for spec in specs))
    return ReduceSpec(**dict((key, getattr(first, key) if values[key] is None else values[key])
                             for key in ('num_classes', 'bins', 'threshold', 'on_graph')),
                      given=given)


def merge(requests):
    """One `Selection` for every `Request` of a call.

    # Returns
        The merged `Selection`, or `None` when nothing asks for capture.

    # Raises
        ValueError: In case some ask for the reducing mode and others for full
            capture, or two spell out different reducing specs, `gather` or
            `shards` (the message names who asked for what).
    """
    requests = [r for r in requests if r is not None]
    if not requests:
        return None
    if len(requests) == 1:
        return requests[0].selection
    reducing = [r for r in requests if r.selection.reduce is not None]
    summing = [r for r in requests if r.selection.sums]
    if reducing and summing:
        raise ConfigurationError(
            "Cannot merge the capture requests of %s: %s graph sums ('sums') and %s the "
            "reducing mode ('reduce'); give them to separate calls."
            % (', '.join(r.source for r in requests), ' and '.join(r.source for r in summing)
               + ' asks for', ' and '.join(r.source for r in reducing) + ' for'))
    if reducing and len(reducing) < len(requests):
        full = [r for r in requests if r.selection.reduce is None]
        raise ConfigurationError(
            'Cannot merge the capture requests of %s: %s the reducing mode (counts only) '
            'and %s full capture (every batch kept). One call captures one way: give the '
            "callbacks that need predictions and those that need counts ('reduce') to "
            'separate calls.' % (', '.join(r.source for r in requests),
                                 ' and '.join(r.source for r in reducing) +
                                 (' asks for' if len(reducing) == 1 else ' ask for'),
                                 ' and '.join(r.source for r in full) +
                                 (' asks for' if len(full) == 1 else ' ask for')))
    selections = [r.selection for r in requests]
    outputs = (None if any(s.outputs is None for s in selections)
               else _union(s.outputs for s in selections))
    gather = _agreed(requests, "Horovod gathering ('gather')", lambda r: r.selection.gather)
    shards = _agreed(requests, "shards ('shards')",
                     lambda r: r.selection.shards if 'shards' in r.selection.given else None)
    return Selection(outputs=outputs,
                     inputs=_union(s.inputs for s in selections),
                     gather=gather,
                     shards=shards or 'contiguous',
                     layers=_union(s.layers for s in selections),
                     reduce=_merge_reduce(reducing) if reducing else None,
                     given=set().union(*(s.given for s in selections)),
                     sums=_merge_sums(requests))


def _merge_sums(requests):
    try:
        return parse_sums([item for r in requests for item in r.selection.sums])
    except ConfigurationError as e:
        raise ConfigurationError(
            'Cannot merge the capture requests of %s: %s'
            % (', '.join(r.source for r in requests if r.selection.sums), e))
