"""One session run per batch that returns the stock test outputs *and* the predictions.

`RecordingFunction` stands in for `model.test_function` (or the `val_f` handed to
`fit_loop`). It runs a sibling of the stock Keras function whose outputs are the stock
outputs (loss and metrics) followed by the selected model outputs, hands the extra
values to a `BatchRecorder`, and returns exactly what the stock function would have.
Targets and inputs that were fed as arrays are copied from the feed (no round trip
through TensorFlow, dtype kept); only symbolic ones are fetched from the graph.
"""
from __future__ import absolute_import

import sys

import numpy as np
import scipy.sparse

from .attached import attached_or_new
from .failures import Boundary, ConfigurationError
from .graph_sums import SUMS_KEY, SumTotals, sum_tensors
from .resolve import resolve
from .results import GtsAndPreds


class _Item(object):
    """One captured value: where it is fed (a position in the function's inputs) and
    which graph tensor holds it when it is not fed as an array."""

    def __init__(self, feed_position, tensor):
        self.feed_position = feed_position
        self.tensor = tensor


def _feed_position(function_inputs, tensor):
    for i, t in enumerate(function_inputs):
        if t is tensor:
            return i
    return None


class BatchFetches(object):
    """What to fetch for one (stock function, selection) pair; cached on the function."""

    def __init__(self, model, stock_function, selection, family):
        # Names only a built model has (a `Sequential` built by its first batch) are
        # checked here: an unknown one raises a `ConfigurationError`.
        resolved = resolve(model, selection, family)
        inputs = stock_function.inputs

        def item(tensor):
            return None if tensor is None else _Item(_feed_position(inputs, tensor), tensor)

        self.output_names = resolved.output_names
        self.output_tensors = resolved.outputs
        self.targets = [item(target) for target in resolved.targets]
        self.input_names = resolved.input_names
        self.inputs = [item(tensor) for tensor in resolved.inputs]
        # Layer outputs (`get_predict['layers']`): fetched, or copied from the feed for
        # an input layer (a fed placeholder cannot be fetched).
        self.layer_keys = resolved.layer_keys
        self.layers = [item(tensor) for tensor in resolved.layers]
        # Graph sums (`get_predict['sums']`): fetched after everything else.
        self.sums = selection.sums
        self.keeps_arrays = selection.keeps_arrays
        # A sum whose tensor has another shape raises a `ConfigurationError`.
        with family.session().graph.as_default():
            self.sum_tensors = sum_tensors(model, selection.sums)
        self.model = model
        self.family = family
        self._stock = stock_function
        self._functions = {}

    def _function_for(self, graph_tensors):
        """The K.function for one combination of tensors fetched from the graph."""
        # The function holds the tensors, so their ids stay valid as cache keys.
        key = tuple(id(tensor) for tensor in graph_tensors)
        function = self._functions.get(key)
        if function is None:
            # Same feeds, same updates, same user `fetches` as the stock function:
            # only the list of returned tensors grows.
            function = self.family.function_like(
                self._stock, self.output_tensors + list(graph_tensors), '_getpredict')
            self._functions[key] = function
        return function

    def run(self, ins, copy=True):
        """Runs one batch. Returns `(stock_outputs, y_true, y_pred, inputs, layers,
        sums)`, `sums` the values of the graph sums;
        with `copy=False` fed values are returned as fed (for a recorder that is done
        with them before the next batch)."""
        is_tensor = self.family.is_tensor

        def from_feed(item):
            if item is None:
                return False
            if item.feed_position is None:
                return False
            value = ins[item.feed_position] if item.feed_position < len(ins) else None
            # Anything fed as a value (arrays, scipy sparse matrices for sparse
            # inputs) is copied from the feed; only symbolic tensors need the graph.
            # A sparse placeholder cannot even be fetched: K.function rejects
            # SparseTensor outputs.
            return value is None or not is_tensor(value)

        def graph_tensor(item):
            value = ins[item.feed_position] if item.feed_position is not None and \
                item.feed_position < len(ins) else None
            # Fed from a symbolic tensor (`fit(x=tensor, ...)`): Keras connects that
            # tensor to the placeholder, and a connected placeholder cannot be
            # fetched ("is both fed and fetched"); fetch its source instead.
            return (value if value is not None and is_tensor(value)
                    else item.tensor)

        items = [t for t in self.targets if t is not None] + self.inputs + self.layers
        graph_items = [item for item in items if not from_feed(item)]
        outs = self._function_for([graph_tensor(item) for item in graph_items] +
                                  self.sum_tensors)(ins)
        n_stock = len(self._stock.outputs)
        n_out = len(self.output_tensors)
        n_sums = len(self.sum_tensors)
        y_pred = outs[n_stock:n_stock + n_out]
        fetched = dict(zip(map(id, graph_items), outs[n_stock + n_out:len(outs) - n_sums]))
        sums = outs[len(outs) - n_sums:]

        def value_of(item):
            if item is None:
                return None
            if id(item) in fetched:
                return fetched[id(item)]
            value = ins[item.feed_position]
            if not copy:
                return value
            # A copy: generators may reuse their buffers, and a view would keep a
            # whole dataset alive.
            if value is None:
                return None
            if scipy.sparse.issparse(value):
                return value.copy()
            return np.array(value, copy=True)

        y_true = [value_of(t) for t in self.targets]
        inputs = [value_of(i) for i in self.inputs]
        layers = [value_of(i) for i in self.layers]
        return outs[:n_stock], y_true, y_pred, inputs, layers, sums

    def run_into(self, recorder, ins):
        """Runs one batch, hands what it captured to `recorder`; the stock outputs."""
        stock_outputs, y_true, y_pred, inputs, layers, sums = self.run(
            ins, copy=getattr(recorder, 'keeps_batches', True))
        recorder.add(self, y_true, y_pred, inputs, layers, sums)
        return stock_outputs


def fetches_for(model, stock_function, selection, make_fetches):
    """The `BatchFetches` of `selection` on `stock_function`, made by
    `make_fetches(model, stock_function, selection)` (the call's mode) the first time and
    cached on the function; a recompiled model has a new stock function, so new ones."""
    made = attached_or_new(stock_function, 'validation_fetches', dict)
    fetches = made.get(selection.key)
    if fetches is None:
        fetches = made[selection.key] = make_fetches(model, stock_function, selection)
    return fetches


class BatchRecorder(object):
    """Collects the captured values batch by batch until `take()`, and adds up the
    graph sums (`sums`, the selection's: `core/graph_sums.py`).
    """

    #: It keeps each batch, so fed arrays are copied (generators reuse buffers).
    keeps_batches = True

    def __init__(self, sums=()):
        self.sums = tuple(sums)
        self.totals = SumTotals()
        self.clear()

    def clear(self):
        self._y_true, self._y_pred, self._inputs, self._layers = [], [], [], []
        self._output_names, self._input_names, self._layer_keys = [], [], []
        self._batches = 0
        self.totals.clear()

    def __len__(self):
        return self._batches

    def add(self, fetches, y_true, y_pred, inputs, layers=(), sums=()):
        self._batches += 1
        self.totals.add([item.name for item in fetches.sums], sums)
        if not fetches.keeps_arrays:
            return  # graph sums alone: nothing kept per batch
        # One output: bare arrays, as Keras itself unpacks single outputs.
        single = len(fetches.output_names) == 1
        self._y_true.append(y_true[0] if single else y_true)
        self._y_pred.append(y_pred[0] if single else y_pred)
        self._inputs.append(inputs)
        self._layers.append(layers)
        self._output_names, self._input_names = fetches.output_names, fetches.input_names
        self._layer_keys = fetches.layer_keys

    def take(self):
        """Returns the batches recorded so far as a `GtsAndPreds` and forgets them."""
        inputs = {name: [batch[i] for batch in self._inputs]
                  for i, name in enumerate(self._input_names)}
        layers = {key: [batch[i] for batch in self._layers]
                  for i, key in enumerate(self._layer_keys)}
        result = GtsAndPreds(self._output_names, self._y_true, self._y_pred, inputs, layers)
        if self.sums:
            result[SUMS_KEY] = self.totals.take(self.sums, self._batches)
        self.clear()
        return result


class _RecordingGuard(object):
    """Hands each batch to the recorder, keeping an unexpected error of the recorder
    (`error`, a `sys.exc_info()` triple) instead of raising it out of the session run's
    caller."""

    def __init__(self, recorder):
        self.recorder = recorder
        self.error = None

    def _guarded(self, method, *args):
        try:
            method(*args)
        except ConfigurationError:
            raise
        except Exception:
            self.error = sys.exc_info()

    def add(self, *args):
        self._guarded(self.recorder.add, *args)

    def add_counted(self, *args):
        self._guarded(self.recorder.add_counted, *args)

    def __getattr__(self, name):
        return getattr(self.recorder, name)


class RecordingFunction(object):
    """Drop-in for a Keras test function that also records what it predicted.

    # Arguments
        model: the model the stock function belongs to.
        stock_function: the Keras `Function` it replaces.
        selection: a `Selection`.
        recorder: the `BatchRecorder` (or `ReducingRecorder`) that receives
            each batch.
        boundary: the call's `failures.Boundary`: once our code has failed, batches
            run through the stock function alone.
        make_fetches: the fetches of the call's mode (`modes.FullCapture.fetches`,
            ...): `make_fetches(model, stock_function, selection)`, with the call's
            family.
    """

    def __init__(self, model, stock_function, selection, recorder, boundary, make_fetches):
        self.model = model
        self.stock_function = stock_function
        self.selection = selection
        self.recorder = recorder
        self.boundary = boundary if boundary is not None else Boundary('evaluate')
        self.make_fetches = make_fetches

    def __call__(self, inputs):
        if self.boundary.failed:
            return self.stock_function(inputs)
        recording = _RecordingGuard(self.recorder)
        try:
            outputs = fetches_for(self.model, self.stock_function, self.selection,
                                  self.make_fetches).run_into(recording, inputs)
        except ConfigurationError:
            raise
        except Exception:
            # Building the function or its session run failed: ours, or the model's
            # own? The stock function decides: an error of the model, the data or
            # Keras raises from it exactly as without keras-getpredict.
            error = sys.exc_info()
            outputs = self.stock_function(inputs)
            self.boundary.fail('capturing a validation batch', error)
            return outputs
        if recording.error is not None:
            # The session run is done (stock outputs in hand, metric updates made once);
            # only keeping the batch failed.
            self.boundary.fail('recording a validation batch', recording.error)
        return outputs

    def __getattr__(self, name):
        # `inputs`, `outputs`, `name`, ... of the function it stands in for.
        return getattr(self.stock_function, name)
