"""The one entry from a call's `get_predict` to what it captures and how.

```
collect (requests.py)   the call's `get_predict`, its callbacks', the `capturing` blocks'
  -> parse (selection.py)   each into a `Selection` (malformed: `ConfigurationError`)
  -> merge (requests.py)    one `Selection` for the call, key by key
  -> resolve (resolve.py)   each request's names against the model
  -> mode (modes.py)        full capture or reducing, chosen once
  = Plan                    with the call's defaults decided here (`DEFAULT_GATHER`)
```

Each default is decided once: those that depend on the method here, those of
`get_predict`'s own keys where the key is parsed (`selection.DEFAULT_SHARDS`,
`reduce_spec.ReduceSpec`).

`fit_call` and `evaluate_capture` (`core/publishing.py`) take their `Plan` from
`plan_call`; entering a `capturing` block checks what it asks with `check_block`, the
same collect, parse and merge without a model.
"""
from __future__ import absolute_import

from . import calls, families
from .failures import checked
from .modes import mode_for
from .requests import (check_requests, collect, call_callbacks, blocks_for_call, merge,
                       open_blocks)

#: Whose predictions cross Horovod ranks when `get_predict['gather']` is left out:
#: every rank runs `fit`, so their shards are combined on every rank; scripts often
#: evaluate on rank 0 only, where a collective would wait forever, so `evaluate*` do not.
DEFAULT_GATHER = {'fit': 'all', 'fit_generator': 'all',
                  'evaluate': False, 'evaluate_generator': False}


TRAINING_METHODS = ('fit', 'fit_generator')


class Plan(object):
    """What one call captures and how, decided once.

    # Attributes
        callbacks: the callbacks the call trains with (the blocks' added; the very
            object given when none adds any).
        requests: the `Request`s of who asked, in the order asked.
        selection: the merged `Selection`, or `None` when nothing asks for capture.
        family: the model's Keras family (`core.families`), resolved once per call
            (`None` without capture).
        mode: the capture mode (`core/modes.py`), or `None` without capture.
        gather: where the recorded batches go under Horovod: `'all'`, `'root'`, or
            `False` (not combined), the method's default applied.
    """

    def __init__(self, callbacks, requests=(), selection=None, family=None, mode=None,
                 gather=False):
        self.callbacks = callbacks
        self.requests = list(requests)
        self.selection = selection
        self.family = family
        self.mode = mode
        self.gather = gather


def plan_call(model, method, get_predict, callbacks=None, family=None):
    """The `Plan` of one `fit*`/`evaluate*` call.

    # Arguments
        model: the model the call runs.
        method: `'fit'`, `'fit_generator'`, `'evaluate'` or `'evaluate_generator'`.
        get_predict: the call's own argument.
        callbacks: the call's callbacks (a list, or `None`).
        family: the model's Keras family when the caller knows it (the run-time patch
            resolved it at `install()`); else resolved here, once.

    # Returns
        A `Plan`; its `selection` is `None` when neither the call, nor a callback, nor
        an open `capturing` block asks for capture.

    # Raises
        ConfigurationError: In case a request is malformed (a `ConfigurationTypeError`
            for a wrong type), requests cannot be merged, a name is not the model's,
            or the model's Keras cannot capture.
    """
    if method in TRAINING_METHODS:  # the blocks' callbacks train, they do not evaluate
        callbacks = call_callbacks(callbacks)
    if calls.outermost():
        requests = collect(get_predict, callbacks, open_blocks())
    else:  # a call Keras makes itself (or a callback does) keeps its own argument only
        requests = collect(get_predict)
    selection = merge(requests)
    if selection is None:
        return Plan(callbacks, requests)
    family = family or families.family_of(model)
    checked(family.check_capture_mode, model)
    check_requests(model, requests)
    return Plan(callbacks, requests, selection, family, mode_for(selection, family),
                gather_for(method, selection))


def gather_for(method, selection):
    """Where `method`'s recorded batches go under Horovod: the selection's `gather`,
    or the method's default (`DEFAULT_GATHER`) when it leaves it out."""
    return DEFAULT_GATHER[method] if selection.gather is None else selection.gather


def asks_for_capture(get_predict):
    """Whether a call with this `get_predict`, where it runs, is asked to capture at all
    (by its argument or an open block), before anything is parsed."""
    return bool(get_predict) or bool(blocks_for_call())


def check_block(block):
    """Checks what a `capturing` block asks for as it is entered, before any call:
    names need a model, but the forms and whether the requests merge do not.

    # Raises
        ConfigurationError: In case the block's `get_predict` is malformed, or its
            requests, its callbacks' and those of the blocks around it cannot be merged.
    """
    merge(collect(block.get_predict, block.callbacks, open_blocks(),
                  source='the `capturing` block', block_source='an enclosing `capturing` block',
                  block_callbacks=True))
