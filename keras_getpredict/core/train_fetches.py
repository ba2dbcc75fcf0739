"""Every training batch's values out of the training step, through fetches of the
train function (what `BatchPredictions` reads).

The mechanism: the train function gets extra `fetches` that `tf.assign(variable, tensor,
validate_shape=False)` the batch's tensors, and the values are read back from the
variables after the step. Keras 2.2.4 never returns the values of fetches, so the values
leave through the variables; `validate_shape=False` lets the last, smaller batch
through.

What the plain `_function_kwargs` recipe leaves to the user, and how this module does it
instead:

- Where the fetches go. `model._function_kwargs` reaches the train, test *and* predict
  functions, and `predict` feeds no targets, so a fetch that reads `model.targets`
  breaks `model.predict`. And `fit` binds the train function before any callback runs,
  so setting `_function_kwargs` and `train_function = None` from a callback comes too
  late; rebuilding it would also re-run `optimizer.get_updates` (new Adam moments: the
  optimizer's state silently reset). So the fetch is appended to the already built
  train function's own `fetches` -- the list `_function_kwargs['fetches']` fills -- and
  its session callable is dropped so Keras re-makes it on the next call. The user's
  fetches, updates and optimizer state stay as they were; test and predict functions
  are never touched. At train end the fetch is taken out again the same way.
- Per train function, collectors of the same tensors share one set of variables and
  one fetch, and the session callable of each fetch list is kept: after the first
  `fit`, adding and removing the fetch re-makes nothing, so a
  `for ...: model.fit(..., epochs=1)` loop does not pay a graph rebuild per call.
- One fetch, not one per value: the assigns hang on a scalar as control dependencies,
  so the train step does not also copy every value out to Python (Keras would fetch
  and then drop them).
- One session run per batch reads all variables (a session callable, as Keras' own
  `Function` makes), instead of one `K.eval` per variable.
- The variables live on the CPU, in `LOCAL_VARIABLES`: not trainable, not in the
  model's weights, not in a user's `tf.train.Saver()` checkpoints.

Every function here takes the Keras family (`core.families`) of the model whose train
function it edits, resolved once by the caller (`BatchPredictions.on_train_begin`).
"""
from __future__ import absolute_import

import numpy as np

from .families import session_callable, tf_v1
from .attached import attach, attached, attached_or_new

# Entries this module keeps on a Keras `Function` (the model's train function).
_ATTACHED = 'batch_fetches'     # [(fetch, run)] currently wanted
_CALLABLES = 'callables'        # [(fetch list, callable state)]
_FETCHES = 'train_fetches'      # [TrainFetches] built for this function
#: Graph collection holding every fetch this module made: how leftovers are recognised.
FETCH_COLLECTION = 'keras_getpredict_batch_fetches'
_MAX_CALLABLES = 4


class TrainFetches(object):
    """The graph side for one (train function, selected tensors): variables, assigns, reader.

    `fetch` is a scalar that depends on every assign; putting it into the train
    function's fetches runs them all in the training step.
    """

    def __init__(self, tensors):
        import tensorflow as tf
        v1 = tf_v1()
        self.tensors = tensors
        graph = tensors[0].graph
        with graph.as_default(), tf.name_scope('batch_predictions'), tf.device('/cpu:0'):
            self.variables = []
            assigns = []
            for tensor in tensors:
                dtype = tensor.dtype.base_dtype
                variable = v1.Variable(
                    np.zeros((0,), dtype.as_numpy_dtype), dtype=dtype,
                    trainable=False, validate_shape=False, use_resource=False,
                    collections=[v1.GraphKeys.LOCAL_VARIABLES],
                    name='capture')
                self.variables.append(variable)
                assigns.append(v1.assign(variable, tensor, validate_shape=False))
            with tf.control_dependencies(assigns):
                self.fetch = tf.constant(0, name='assigned')
            v1.add_to_collection(FETCH_COLLECTION, self.fetch)
            self.values = [variable.value() for variable in self.variables]
            self.initializer = v1.variables_initializer(self.variables)
        self._session = None
        self._reader = None

    def matches(self, tensors):
        return len(tensors) == len(self.tensors) and all(
            a is b for a, b in zip(tensors, self.tensors))

    def reader(self, family):
        """A callable that reads every variable in one session run (the session
        `family`, the model's Keras family, runs it in)."""
        session = family.session()
        if session is not self._session:
            session.run(self.initializer)
            # In the caller's thread: halves the read after a training step
            # (~0.1 -> ~0.05 ms).
            self._reader = session_callable(session, self.values)
            self._session = session
        return self._reader


def fetches_for(function, tensors):
    """The `TrainFetches` for these tensors, shared by every collector on this function.

    Sharing keeps the graph from growing by a few ops at every `fit`, and keeps the
    fetch list -- and so the cached session callable -- the same from fit to fit.
    """
    made = attached_or_new(function, _FETCHES, list)
    for fetches in made:
        if fetches.matches(tensors):
            return fetches
    fetches = TrainFetches(tensors)
    made.append(fetches)
    return fetches


def _same(a, b):
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _set_fetches(family, function, fetches):
    """Sets `function.fetches`, keeping the session callable made for each fetch list.

    Keras re-makes a function's callable when `_callable_fn` is None, which costs
    about as much as the first training step (graph optimisation). Going back to
    a fetch list seen before restores its callable instead, so adding the fetch at
    train begin and removing it at train end costs nothing after the first time.
    """
    current = family.function_fetches(function)
    if _same(fetches, current):
        return
    cache = attached_or_new(function, _CALLABLES, list)
    cache[:] = [(f, state) for f, state in cache if not _same(f, current)]
    cache.append((current, family.callable_state(function)))
    del cache[:-_MAX_CALLABLES]
    state = next((state for cached, state in cache if _same(cached, fetches)), None)
    family.set_function_fetches(function, fetches, state)


def _sync_fetches(family, function):
    """The user's fetches, in their order, then one copy of each fetch still wanted."""
    fetches = family.function_fetches(function)
    graph = fetches[0].graph if fetches else None
    ours = graph.get_collection(FETCH_COLLECTION) if graph is not None else []
    user = [f for f in fetches if not any(f is o for o in ours)]
    wanted = []
    for fetch, _ in attached(function, _ATTACHED, []):
        if not any(fetch is w for w in wanted):
            wanted.append(fetch)
    _set_fetches(family, function, user + wanted)


def attach_fetch(family, function, fetch, run):
    """Adds `fetch` to a built Keras `Function` of `family`.

    `run` identifies the training run (the `params` dict Keras shares among one
    run's callbacks). Fetches of ours left by an earlier run -- Keras 2.2.4 skips
    `on_train_end` when training raises -- are dropped; those of other
    `BatchPredictions` in the same run stay.
    """
    wanted = [(f, r) for f, r in attached(function, _ATTACHED, []) if r is run]
    attach(function, _ATTACHED, wanted + [(fetch, run)])
    _sync_fetches(family, function)


def detach_fetch(family, function, fetch):
    """Removes one `attach_fetch` of `fetch`; the fetch goes when no collector wants it."""
    wanted = attached(function, _ATTACHED, [])
    for i, (f, _) in enumerate(wanted):
        if f is fetch:
            del wanted[i]
            break
    else:
        return
    _sync_fetches(family, function)
