"""`BatchPredictions`: every *training* batch's targets and outputs, as the batch was fed.

The mechanism: the train function gets extra `fetches` that `tf.assign(variable, tensor,
validate_shape=False)` the batch's targets and outputs, and the callback reads the
variables back after the step. Keras 2.2.4 never returns the values of fetches, so
the values leave through the variables; `validate_shape=False` lets the last,
smaller batch through.

What the plain `_function_kwargs` recipe leaves to the user, and how this module
does it instead:

- Where the fetches go. `model._function_kwargs` reaches the train, test *and*
  predict functions, and `predict` feeds no targets, so a fetch that reads
  `model.targets` breaks `model.predict`. And `fit` binds the train function before
  any callback runs, so setting `_function_kwargs` and `train_function = None`
  from a callback comes too late; rebuilding it would also re-run
  `optimizer.get_updates` (new Adam moments: the optimizer's state silently
  reset). So the fetch is appended to the already built train function's own
  `fetches` -- the list `_function_kwargs['fetches']` fills -- and its session
  callable is dropped so Keras re-makes it on the next call. The user's fetches,
  updates and optimizer state stay as they were; test and predict functions are
  never touched. At train end the fetch is taken out again the same way.
- Per train function, collectors with the same selection share one set of
  variables and one fetch, and the session callable of each fetch list is kept:
  after the first `fit`, adding and removing the fetch re-makes nothing, so a
  `for ...: model.fit(..., epochs=1)` loop does not pay a graph rebuild per call.
- One fetch, not one per value: the assigns hang on a scalar as control
  dependencies, so the train step does not also copy every value out to Python
  (Keras would fetch and then drop them).
- One session run per batch reads all variables (a session callable, as Keras'
  own `Function` makes), instead of one `K.eval` per variable.
- The variables live on the CPU, in `LOCAL_VARIABLES`: not trainable, not in the
  model's weights, not in a user's `tf.train.Saver()` checkpoints.
"""
from __future__ import absolute_import

import collections
import numbers

import numpy as np
import six
import tensorflow as tf
from keras import backend as K
from keras.callbacks import Callback

from ..core import keras_internals
from ..core.attached import attach, attached, attached_or_new
from ..core.results import GtsAndPreds
from ..core.selection import layer_key, layer_outputs, parse_layers

# Entries this module keeps on a Keras `Function` (the model's train function).
_ATTACHED = 'batch_fetches'     # [(fetch, run)] currently wanted
_CALLABLES = 'callables'        # [(fetch list, callable state)]
_PLANS = 'batch_plans'          # [_Plan] built for this function
#: Graph collection holding every fetch this module made: how leftovers are recognised.
FETCH_COLLECTION = 'keras_getpredict_batch_fetches'
_MAX_CALLABLES = 4

KEEP_FORMS = ("'epoch' (the current epoch's batches), 'all' (every batch), "
              "or an int K >= 0 (the last K batches)")


def _names(value, argument):
    """A tuple of names from `None`, a name or a list of names (order kept, no repeats)."""
    if value is None:
        return None
    if isinstance(value, six.string_types):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise TypeError('`%s` should be a name or a list of names; got %r of type %s.'
                        % (argument, value, type(value).__name__))
    for name in value:
        if not isinstance(name, six.string_types):
            raise TypeError('`%s` should hold names (strings); got %r of type %s.'
                            % (argument, name, type(name).__name__))
    return tuple(sorted(set(value), key=list(value).index))


def _check_keep(keep):
    if isinstance(keep, six.string_types):
        if keep not in ('epoch', 'all'):
            raise ValueError('`keep` should be %s; got %r.' % (KEEP_FORMS, keep))
        return keep
    if isinstance(keep, (bool, np.bool_)) or not isinstance(keep, numbers.Integral):
        raise TypeError('`keep` should be %s; got %r of type %s.'
                        % (KEEP_FORMS, keep, type(keep).__name__))
    if keep < 0:
        raise ValueError('`keep` should be %s; got %r.' % (KEEP_FORMS, keep))
    return int(keep)


class _Plan(object):
    """The graph side for one (train function, selected tensors): variables, assigns, reader.

    `fetch` is a scalar that depends on every assign; putting it into the train
    function's fetches runs them all in the training step.
    """

    def __init__(self, tensors):
        self.tensors = tensors
        graph = tensors[0].graph
        with graph.as_default(), tf.name_scope('batch_predictions'), tf.device('/cpu:0'):
            self.variables = []
            assigns = []
            for tensor in tensors:
                dtype = tensor.dtype.base_dtype
                variable = tf.compat.v1.Variable(
                    np.zeros((0,), dtype.as_numpy_dtype), dtype=dtype,
                    trainable=False, validate_shape=False, use_resource=False,
                    collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES],
                    name='capture')
                self.variables.append(variable)
                assigns.append(tf.compat.v1.assign(variable, tensor, validate_shape=False))
            with tf.control_dependencies(assigns):
                self.fetch = tf.constant(0, name='assigned')
            tf.compat.v1.add_to_collection(FETCH_COLLECTION, self.fetch)
            self.values = [variable.value() for variable in self.variables]
            self.initializer = tf.compat.v1.variables_initializer(self.variables)
        self._session = None
        self._reader = None

    def matches(self, tensors):
        return len(tensors) == len(self.tensors) and all(
            a is b for a, b in zip(tensors, self.tensors))

    def reader(self):
        """A callable that reads every variable in one session run."""
        session = K.get_session()
        if session is not self._session:
            session.run(self.initializer)
            # In the caller's thread: halves the read after a training step
            # (~0.1 -> ~0.05 ms).
            self._reader = keras_internals.session_callable(session, self.values)
            self._session = session
        return self._reader


def _plan_for(function, tensors):
    """The `_Plan` for these tensors, shared by every collector on this function.

    Sharing keeps the graph from growing by a few ops at every `fit`, and keeps the
    fetch list -- and so the cached session callable -- the same from fit to fit.
    """
    plans = attached_or_new(function, _PLANS, list)
    for plan in plans:
        if plan.matches(tensors):
            return plan
    plan = _Plan(tensors)
    plans.append(plan)
    return plan


def _same(a, b):
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _set_fetches(function, fetches):
    """Sets `function.fetches`, keeping the session callable made for each fetch list.

    Keras re-makes a function's callable when `_callable_fn` is None, which costs
    about as much as the first training step (graph optimisation). Going back to
    a fetch list seen before restores its callable instead, so adding the fetch at
    train begin and removing it at train end costs nothing after the first time.
    """
    current = keras_internals.function_fetches(function)
    if _same(fetches, current):
        return
    cache = attached_or_new(function, _CALLABLES, list)
    cache[:] = [(f, state) for f, state in cache if not _same(f, current)]
    cache.append((current, keras_internals.session_callable_state(function)))
    del cache[:-_MAX_CALLABLES]
    state = next((state for cached, state in cache if _same(cached, fetches)), None)
    keras_internals.set_function_fetches(function, fetches, state)


def _sync_fetches(function):
    """The user's fetches, in their order, then one copy of each fetch still wanted."""
    fetches = keras_internals.function_fetches(function)
    graph = fetches[0].graph if fetches else None
    ours = graph.get_collection(FETCH_COLLECTION) if graph is not None else []
    user = [f for f in fetches if not any(f is o for o in ours)]
    wanted = []
    for fetch, _ in attached(function, _ATTACHED, []):
        if not any(fetch is w for w in wanted):
            wanted.append(fetch)
    _set_fetches(function, user + wanted)


def _attach(function, fetch, run):
    """Adds `fetch` to a built Keras `Function`.

    `run` identifies the training run (the `params` dict Keras shares among one
    run's callbacks). Fetches of ours left by an earlier run -- Keras 2.2.4 skips
    `on_train_end` when training raises -- are dropped; those of other
    `BatchPredictions` in the same run stay.
    """
    wanted = [(f, r) for f, r in attached(function, _ATTACHED, []) if r is run]
    attach(function, _ATTACHED, wanted + [(fetch, run)])
    _sync_fetches(function)


def _detach(function, fetch):
    """Removes one `_attach` of `fetch`; the fetch goes when no collector wants it."""
    wanted = attached(function, _ATTACHED, [])
    for i, (f, _) in enumerate(wanted):
        if f is fetch:
            del wanted[i]
            break
    else:
        return
    _sync_fetches(function)


class BatchPredictions(Callback):
    """Records every training batch's targets and outputs, exactly as the batch was fed.

    For each training batch of `fit` and `fit_generator` (after shuffling, the last
    partial batch included) it captures the targets (`y_true`), the model's outputs
    in training mode (`y_pred`), and optionally named inputs and the sample weights,
    from the training step itself: no second forward pass. The values leave the
    step through variables assigned by fetches of the train function (the Keras
    plain recipe) and are read back in one session run per batch.

    It wires itself up when training starts and takes its fetches out again when
    training ends; `predict`, `evaluate`, validation, `save` and `load_model`
    behave as stock Keras, also while it records.

    # Arguments
        outputs: an output name or a list of them; `None` (default) for all.
        inputs: an input name or a list of input names whose fed values are
            kept too (Mask R-CNN-style models keep their ground truth in inputs).
        sample_weights: whether to keep the sample weights each selected
            output was trained with (`class_weight` shows up here too).
        keep: which batches stay in `records`: `'epoch'` the current epoch's
            (cleared when an epoch begins), `'all'` every batch of the run, or
            an int K, the last K batches (`0`: none, for streaming). Defaults
            to `'epoch'`, or to `0` when `on_batch` is given.
        on_batch: a function called with each batch's record right after the
            batch, e.g. to write it to disk; with `keep=0` nothing is held.
        layers: internal layer outputs to keep too, in the forms of
            `get_predict['layers']` (e.g. `{'proposal_targets': 1}`); they go
            under `record['layers']['proposal_targets/1']`.

    # Attributes
        records: the kept batches, oldest first. Each is a dict with `'epoch'`,
            `'batch'`, `'y_true'`, `'y_pred'` and, when selected, `'inputs'`
            (name -> array) and `'sample_weights'`. With one selected output
            `'y_true'`/`'y_pred'`/`'sample_weights'` are arrays; with several,
            lists of arrays in `output_names` order (`None` where an output has
            no target or no sample weights).
        y_true: `[record['y_true'] for record in records]`.
        y_pred: `[record['y_pred'] for record in records]`.
        output_names: names of the captured outputs.
        input_names: names of the captured inputs.

    # Raises
        RuntimeError: When training starts, in case Keras is not 2.2.4 or its
            backend function lacks an attribute this callback reaches into.
        ValueError: In case a name in `outputs`/`inputs` is not one of the
            model's (raised when training starts, listing the model's names),
            or `keep` is out of range.
        TypeError: In case `outputs`/`inputs` are not names, `keep` is not one
            of the accepted forms or `on_batch` is not callable.
        RuntimeError: In case the model is not compiled (Keras' own error).

    # Example
    ```python
    batches = BatchPredictions(keep='all')
    model.fit(x, y, batch_size=32, epochs=2, callbacks=[batches])
    first = batches.records[0]            # epoch 0, batch 0
    flat = keras_getpredict.concat_batches(batches.gts_and_preds())

    # A long run: stream every batch to disk, keep nothing in memory.
    def save(record):
        np.savez('batch_%d_%d.npz' % (record['epoch'], record['batch']),
                 y_true=record['y_true'], y_pred=record['y_pred'])
    model.fit_generator(gen, steps, epochs=100, callbacks=[BatchPredictions(on_batch=save)])
    ```
    """

    def __init__(self, outputs=None, inputs=None, sample_weights=False, keep=None,
                 on_batch=None, layers=None):
        super(BatchPredictions, self).__init__()
        self._layers = parse_layers(layers) if layers is not None else ()
        self.layer_keys = [layer_key(name, index) for name, index in self._layers]
        self._outputs = _names(outputs, 'outputs')
        if self._outputs == ():
            raise ValueError('`outputs` selects no output: pass `None` for all '
                             'outputs, or at least one output name.')
        self._inputs = _names(inputs, 'inputs') or ()
        self._sample_weights = bool(sample_weights)
        if on_batch is not None and not callable(on_batch):
            raise TypeError('`on_batch` should be a function taking one batch '
                            'record; got %r of type %s.' % (on_batch, type(on_batch).__name__))
        self.on_batch = on_batch
        if keep is None:
            keep = 0 if on_batch is not None else 'epoch'
        self.keep = _check_keep(keep)
        if self.keep == 0 and on_batch is None:
            raise ValueError('`keep=0` keeps no batch and no `on_batch` function '
                             'receives them; pass `on_batch`, or keep %s.' % KEEP_FORMS)
        self.records = self._new_store()
        self.output_names = []
        self.input_names = list(self._inputs)
        self._plan = None
        self._layout = None
        self._function = None
        self._epoch = 0

    def _new_store(self):
        if isinstance(self.keep, int):
            return collections.deque(maxlen=self.keep)
        return []

    @property
    def y_true(self):
        return [record['y_true'] for record in self.records]

    @property
    def y_pred(self):
        return [record['y_pred'] for record in self.records]

    def gts_and_preds(self):
        """The kept batches in the form of `logs['val_gts_and_preds']`.

        # Returns
            A `GtsAndPreds` (`{'y_true': [...], 'y_pred': [...]}` and `'inputs'`
            when inputs are captured), ready for `concat_batches`.
        """
        inputs = {name: [record['inputs'][name] for record in self.records]
                  for name in self.input_names}
        layers = {key: [record['layers'][key] for record in self.records]
                  for key in self.layer_keys}
        return GtsAndPreds(self.output_names, self.y_true, self.y_pred, inputs, layers)

    # -- wiring ------------------------------------------------------------

    def _selected(self, model):
        """`(output indices, input indices)` for the model, or `ValueError` naming its names."""
        output_names = list(model.output_names)
        input_names = list(model.input_names)
        if self._outputs is not None:
            unknown = [n for n in self._outputs if n not in output_names]
            if unknown:
                raise ValueError('Unknown output name(s) in `outputs`: %s. The '
                                 "model's outputs are: %s." % (unknown, output_names))
            out_idx = [i for i, n in enumerate(output_names) if n in self._outputs]
        else:
            out_idx = list(range(len(output_names)))
        unknown = [n for n in self._inputs if n not in input_names]
        if unknown:
            raise ValueError('Unknown input name(s) in `inputs`: %s. The model\'s '
                             'inputs are: %s.' % (unknown, input_names))
        return out_idx, [input_names.index(n) for n in self._inputs]

    def _layout_for(self, model, out_idx, in_idx):
        """Which tensor each record slot comes from: a list of (slot, tensor) pairs."""
        targets = list(getattr(model, 'targets', None) or [None] * len(model.outputs))
        weights = list(getattr(model, 'sample_weights', None) or [None] * len(model.outputs))
        layout = []
        for i in out_idx:
            layout.append((('y_pred', i), model.outputs[i]))
            if i < len(targets) and targets[i] is not None:
                layout.append((('y_true', i), targets[i]))
            if self._sample_weights and i < len(weights) and weights[i] is not None:
                layout.append((('sample_weights', i), weights[i]))
        for i in in_idx:
            layout.append((('inputs', i), model.inputs[i]))
        for k, tensor in enumerate(layer_outputs(model, self._layers, '`layers`')):
            layout.append((('layers', k), tensor))
        return layout

    def on_train_begin(self, logs=None):
        keras_internals.check_train_function_access('BatchPredictions')
        model = self.model
        # `fit`/`fit_generator` built it already; otherwise this raises Keras' own
        # "You must compile your model before using it." for an uncompiled model.
        train_function = keras_internals.built_train_function(model)
        out_idx, in_idx = self._selected(model)
        layout = self._layout_for(model, out_idx, in_idx)
        # One variable per distinct tensor (one tensor can fill two slots, e.g.
        # `compile(target_tensors=...)` with an input as target).
        tensors = []
        for _, tensor in layout:
            if not any(tensor is t for t in tensors):
                tensors.append(tensor)
        self._plan = _plan_for(train_function, tensors)
        self._slots = [(slot, [t is tensor for t in tensors].index(True))
                       for slot, tensor in layout]
        self._out_idx, self._in_idx = out_idx, in_idx
        self.output_names = [model.output_names[i] for i in out_idx]
        self.input_names = [model.input_names[i] for i in in_idx]
        self._read = self._plan.reader()
        self.records = self._new_store()
        self._function = train_function
        _attach(self._function, self._plan.fetch, getattr(self, 'params', None))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.keep == 'epoch':
            self.records = []

    def on_batch_end(self, batch, logs=None):
        if self._function is None:
            return
        values = self._read()
        by_slot = {slot: values[position] for slot, position in self._slots}
        record = {'epoch': self._epoch, 'batch': batch}
        single = len(self._out_idx) == 1

        def per_output(kind):
            column = [by_slot.get((kind, i)) for i in self._out_idx]
            return column[0] if single else column

        record['y_true'] = per_output('y_true')
        record['y_pred'] = per_output('y_pred')
        if self._sample_weights:
            record['sample_weights'] = per_output('sample_weights')
        if self._in_idx:
            record['inputs'] = {name: by_slot[('inputs', i)]
                                for name, i in zip(self.input_names, self._in_idx)}
        if self._layers:
            record['layers'] = {key: by_slot[('layers', k)]
                                for k, key in enumerate(self.layer_keys)}
        if self.keep != 0:
            self.records.append(record)
        if self.on_batch is not None:
            self.on_batch(record)

    def on_train_end(self, logs=None):
        self.detach()

    def detach(self):
        """Takes this callback's fetch out of the train function.

        Training ends call it. Keras 2.2.4 skips `on_train_end` when training
        raises; the next `BatchPredictions` to start on the model removes the
        leftover fetch, or call this in your own `finally`.
        """
        if self._function is not None:
            _detach(self._function, self._plan.fetch)
            self._function = None
