"""Force `get_predict` on every Keras call that has validation or evaluation data.

The third run of Keras' own test suite goes through these wrappers. Each one calls the
patched Keras method with the widest `get_predict` (every output, and every input once
the model knows its inputs) and hands the test exactly what stock Keras would return
(for `evaluate`/`evaluate_generator`: the metrics only, not the `(metrics,
gts_and_preds)` tuple). On the side it checks that the capture produced one entry per
validation batch holding every validation sample and, where the data were passed as
arrays, that `y_true` and the inputs are those arrays and `y_pred` is what
`model.predict` gives. Check failures are not raised into the test (a test may catch
broad exceptions); they are collected in `LOG.problems` and the gate reports them.

Calls that Keras makes itself (`fit_generator` validating through `evaluate_generator`
or `evaluate`; `fit`/`evaluate` handing a generator to `fit_generator`/
`evaluate_generator`) are left alone: there the outer call is the one capturing, as in
real use.
"""
from __future__ import absolute_import

import inspect
import math
import sys
import threading

import numpy as np

from keras_getpredict.core.results import LOGS_KEY


class _Stack(object):
    """What forcing needs of one Keras stack: standalone Keras (`'keras'`) or
    TensorFlow 1.15's `tf.keras` (`'tf.keras'`)."""

    def __init__(self, target):
        self.target = target
        if target == 'tf.keras':
            from tensorflow.python.keras import callbacks
            from tensorflow.python.keras.engine import training
            from tensorflow.python.keras.utils import data_utils
            self.Model, self.Callback = training.Model, callbacks.Callback
            self.Sequence = data_utils.Sequence
            # tf.keras' `fit`/`fit_generator` validate in their own loop (no nested
            # `evaluate*` call), but `fit(generator)` and `evaluate(generator)` reach
            # the generator loop through training_generator.py.
            self.internal_callers = ('tensorflow.python.keras.engine.training',
                                     'tensorflow.python.keras.engine.training_generator',
                                     'tensorflow.python.keras.engine.training_arrays')
            self.pass_through = ()
            # training_arrays.py, `model_iteration`: `fit` validates arrays shuffled.
            self.fit_validation_in_order = False
            self.generator_method = lambda make: make
        else:
            from keras.callbacks import Callback
            from keras.engine import training
            from keras.legacy import interfaces
            from keras.utils import Sequence
            self.Model, self.Callback, self.Sequence = training.Model, Callback, Sequence
            # A call coming from here is Keras calling itself: `fit_generator`
            # validating through `evaluate_generator`/`evaluate`, or (Keras >= 2.2.5)
            # `fit`/`evaluate` handing a generator or Sequence to `fit_generator`/
            # `evaluate_generator`. The outer call captures.
            self.internal_callers = ('keras.engine.training_generator', 'keras.engine.training')
            self.pass_through = ('keras.legacy.interfaces',)
            self.fit_validation_in_order = True

            def generator_method(make):
                # Like install.py: wrap inside Keras' legacy-argument decorator so
                # that old argument names are converted before we bind the call.
                def factory(patched, name, expectations, log):
                    return interfaces.legacy_generator_methods_support(
                        make(patched.__wrapped__, name, expectations, log))
                return factory
            self.generator_method = generator_method


#: The stack being forced (set by `install_forcing`).
_STACK = []


class CaptureLog(object):
    """What the forced calls of one test did: how many, how many entries, what went wrong."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.calls = 0
        self.entries = 0
        self.targets_checked = 0
        self.predictions_checked = 0
        self.problems = []
        self._lock = threading.Lock()

    def count_call(self):
        with self._lock:
            self.calls += 1

    def check(self, gts_and_preds, where, batches=None, samples=None):
        """Checks one captured `GtsAndPreds` against the expected batch/sample counts."""
        with self._lock:
            if not isinstance(gts_and_preds, dict) or 'y_pred' not in gts_and_preds:
                self.problems.append('%s: capture returned %r, not a GtsAndPreds'
                                     % (where, type(gts_and_preds).__name__))
                return
            y_pred, y_true = gts_and_preds['y_pred'], gts_and_preds['y_true']
            self.entries += len(y_pred)
            if len(y_true) != len(y_pred):
                self.problems.append('%s: %d y_true entries but %d y_pred entries'
                                     % (where, len(y_true), len(y_pred)))
            if batches is not None and len(y_pred) != batches:
                self.problems.append('%s: %d entries for %d batches'
                                     % (where, len(y_pred), batches))
            if samples is not None:
                got = sum(_entry_samples(entry) for entry in y_pred)
                if got != samples:
                    self.problems.append('%s: entries hold %d samples, expected %d'
                                         % (where, got, samples))

    def check_targets(self, gts_and_preds, where, y, output_names):
        """Checks that the captured `y_true`, joined batch after batch, is the `y` the test
        passed (evaluation never shuffles). Skips what cannot be compared simply."""
        entries = gts_and_preds.get('y_true') if isinstance(gts_and_preds, dict) else None
        if not entries or y is None:
            return
        if isinstance(y, dict):
            y = [y.get(name) for name in output_names]
        multi = isinstance(entries[0], list)
        columns = ([[entry[i] for entry in entries] for i in range(len(entries[0]))]
                   if multi else [entries])
        targets = list(y) if isinstance(y, (list, tuple)) else [y]
        if len(targets) != len(columns):
            return
        for i, (column, target) in enumerate(zip(columns, targets)):
            if target is None or any(b is None for b in column) or \
                    not isinstance(target, np.ndarray):
                continue
            joined = np.concatenate(column, axis=0)
            self.targets_checked += 1
            if joined.size != target.size:
                self.problem('%s: y_true of output %d holds %d values, y has %d'
                             % (where, i, joined.size, target.size))
            elif not np.array_equal(joined.reshape(target.shape),
                                    target.astype(joined.dtype)):
                self.problem('%s: y_true of output %d is not the y passed in' % (where, i))

    def check_inputs(self, gts_and_preds, where, x, input_names):
        """Checks the captured inputs: one array per batch, as many samples as `y_pred`,
        and joined, the `x` the test passed (when given as arrays)."""
        captured = gts_and_preds.get('inputs') if isinstance(gts_and_preds, dict) else None
        if captured is None:
            return
        y_pred = gts_and_preds['y_pred']
        if isinstance(x, dict):
            x = [x.get(name) for name in input_names]
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        for i, name in enumerate(input_names):
            batches = captured.get(name)
            if batches is None or len(batches) != len(y_pred):
                self.problem('%s: input %r captured in %s batches for %d y_pred entries'
                             % (where, name, None if batches is None else len(batches),
                                len(y_pred)))
                continue
            sizes = [_entry_samples(b) for b in batches]
            if sizes != [_entry_samples(e) for e in y_pred]:
                self.problem('%s: input %r batch sizes %s differ from y_pred\'s'
                             % (where, name, sizes))
                continue
            if len(xs) == len(input_names) and isinstance(xs[i], np.ndarray):
                joined = np.concatenate(batches, axis=0)
                self.targets_checked += 1
                if joined.shape[0] != xs[i].shape[0] or not np.array_equal(
                        joined.reshape(xs[i].shape), xs[i].astype(joined.dtype)):
                    self.problem('%s: captured input %r is not the x passed in' % (where, name))

    def check_predictions(self, gts_and_preds, where, model, x, batch_size):
        """Checks the captured `y_pred`, joined, against `model.predict(x)` (same batch
        size, so the same arithmetic). Only for array `x` and models without stateful
        layers, where one more forward pass changes nothing."""
        if num_samples(x) is None or any(getattr(layer, 'stateful', False)
                                         for layer in getattr(model, 'layers', [])):
            return
        entries = gts_and_preds['y_pred']
        if not entries:
            return
        expected = model.predict(x, batch_size=batch_size)
        expected = expected if isinstance(expected, list) else [expected]
        multi = isinstance(entries[0], list)
        columns = ([[entry[i] for entry in entries] for i in range(len(entries[0]))]
                   if multi else [entries])
        with self._lock:
            if len(columns) != len(expected):
                self.problems.append('%s: %d captured outputs, predict gives %d'
                                     % (where, len(columns), len(expected)))
                return
            for i, (column, predicted) in enumerate(zip(columns, expected)):
                joined = np.concatenate(column, axis=0)
                self.predictions_checked += 1
                if joined.shape != predicted.shape or not np.allclose(
                        joined, predicted, rtol=1e-5, atol=1e-6, equal_nan=True):
                    self.problems.append('%s: y_pred of output %d differs from predict()'
                                         % (where, i))

    def check_pairs(self, gts_and_preds, where, model, x, y, predict=True):
        """For validation Keras shuffles (tf.keras `fit` on arrays): the captured
        `(input, y_true)` rows are the `(x, y)` rows passed in, in any order, and
        `y_pred` is `model.predict` of the captured inputs (with `predict`). One array input and one
        array output only; anything else is left to `check`."""
        inputs = gts_and_preds.get('inputs') or {}
        entries = gts_and_preds.get('y_true')
        if len(inputs) != 1 or not entries or isinstance(entries[0], list) or \
                not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            return
        x_batches = list(inputs.values())[0]
        if any(e is None for e in entries) or len(x_batches) != len(entries):
            return
        got_x, got_y = np.concatenate(x_batches), np.concatenate(entries)

        def rows(a, b):
            table = np.concatenate([a.reshape(len(a), -1), b.reshape(len(b), -1)], axis=1)
            return table[np.lexsort(table.T[::-1])]
        self.targets_checked += 1
        if got_x.shape[0] != x.shape[0] or not np.array_equal(
                rows(got_x, got_y.astype(np.float64)), rows(x, y.astype(np.float64))):
            self.problem('%s: captured (input, y_true) rows are not the (x, y) rows '
                         'passed in' % where)
            return
        if not predict or any(getattr(layer, 'stateful', False)
                              for layer in getattr(model, 'layers', [])):
            return  # user callbacks may have changed the weights since the validation
        predicted = model.predict(got_x, batch_size=len(x_batches[0]))
        self.predictions_checked += 1
        if not np.allclose(np.concatenate(gts_and_preds['y_pred']), predicted,
                           rtol=1e-5, atol=1e-6, equal_nan=True):
            self.problem('%s: y_pred differs from predict() of the captured inputs' % where)

    def problem(self, text):
        with self._lock:
            self.problems.append(text)

    def as_dict(self):
        return {'forced_calls': self.calls, 'entries': self.entries,
                'targets_checked': self.targets_checked,
                'predictions_checked': self.predictions_checked,
                'problems': list(self.problems)}


#: The log of the test that runs now (the plugin resets it around each test).
LOG = CaptureLog()


def _first_array(entry):
    if isinstance(entry, (list, tuple)):
        for item in entry:
            if item is not None:
                return item
        return None
    return entry


def _entry_samples(entry):
    array = _first_array(entry)
    shape = getattr(array, 'shape', ())
    return int(shape[0]) if len(shape) else 1


def num_samples(data):
    """Sample count of `x` as a user passes it (array, list, dict, DataFrame), or None."""
    if data is None:
        return None
    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, (list, tuple)):
        for item in data:
            n = num_samples(item)
            if n is not None:
                return n
        return None
    shape = getattr(data, 'shape', None)
    if shape is None or not len(shape) or type(data).__module__.startswith('tensorflow'):
        return None
    try:
        return int(shape[0])
    except (TypeError, ValueError):  # unknown static dimension
        return None


def _batches(samples, batch_size):
    if samples is None or not batch_size:
        return None
    return int(math.ceil(samples / float(batch_size)))


def called_by_keras(depth=1):
    """Whether the caller (past Keras' legacy decorator and our own wrappers) is Keras
    itself (`_KERAS_INTERNAL_CALLERS`)."""
    stack = _STACK[0]

    def passes_through(name):
        # Frames of these modules sit between a caller and our wrapper.
        return (name in stack.pass_through or name == __name__ or
                (name or '').startswith('keras_getpredict.patching.'))
    frame = sys._getframe(depth + 1)
    while frame is not None and passes_through(frame.f_globals.get('__name__')):
        frame = frame.f_back
    return frame is not None and frame.f_globals.get('__name__') in stack.internal_callers


class _EpochCheck(object):
    """Last user callback of a forced fit: every validated epoch carries the predictions."""

    def __init__(self, log, where, batches=None, samples=None, targets=None, inputs=None,
                 predict_batch_size=None):
        super(_EpochCheck, self).__init__()
        self.log = log
        self.where = where
        self.batches = batches
        self.samples = samples
        self.targets = targets
        self.inputs = inputs
        # Set only when nothing but Keras and us can touch the weights between the
        # validation pass and this epoch end (no user callbacks).
        self.predict_batch_size = predict_batch_size
        self._last_validation = {}

    def _validated(self, logs):
        """Whether this epoch validated. `fit_generator` reuses one logs dict across
        epochs, so an epoch that stopped before validating (`TerminateOnNaN`) still
        shows the previous epoch's `val_*` values: the very same objects."""
        current = {k: v for k, v in logs.items() if k.startswith('val_') and k != LOGS_KEY}
        stale = bool(current) and all(self._last_validation.get(k) is v
                                      for k, v in current.items())
        self._last_validation = current
        return bool(current) and not stale

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        validated = self._validated(logs)
        entry = logs.get(LOGS_KEY)
        where = '%s epoch %d' % (self.where, epoch)
        if not validated:
            if entry is not None:
                self.log.problem('%s: predictions in logs without validation this epoch'
                                 % where)
            return
        if entry is None:
            self.log.problem('%s: validated, but no logs[%r]' % (where, LOGS_KEY))
            return
        self.log.check(entry, where, self.batches, self.samples)
        if not _STACK[0].fit_validation_in_order:
            self.log.check_pairs(entry, where, self.model, self.inputs, self.targets,
                                 predict=bool(self.predict_batch_size))
            return
        self.log.check_targets(entry, where, self.targets,
                               list(getattr(self.model, 'output_names', [])))
        self.log.check_inputs(entry, where, self.inputs,
                              list(getattr(self.model, 'input_names', None) or []))
        if self.predict_batch_size:
            self.log.check_predictions(entry, where, self.model, self.inputs,
                                       self.predict_batch_size)


def _split_targets(y, split):
    """The validation part of `x` or `y` that `fit(validation_split=...)` holds out."""
    def tail(array):
        if not isinstance(array, np.ndarray):
            return None
        return array[int(len(array) * (1. - split)):]
    if isinstance(y, (list, tuple)):
        return [tail(a) for a in y]
    if isinstance(y, dict):
        return {k: tail(a) for k, a in y.items()}
    return tail(y)


def _fit_expectations(arguments):
    """(validates, batches, samples, val_x, val_y) for `Model.fit` arguments, as Keras
    decides them; None where not known here."""
    batch_size = arguments.get('batch_size')
    if batch_size is None and arguments.get('steps_per_epoch') is None:
        batch_size = 32
    steps = arguments.get('validation_steps')
    validation_data = arguments.get('validation_data')
    split = arguments.get('validation_split') or 0.
    val_x = val_y = samples = None
    if isinstance(validation_data, _STACK[0].Sequence):  # tf.keras takes these too
        return True, steps if steps is not None else len(validation_data), None, None, None
    if validation_data is not None and not isinstance(validation_data, (list, tuple)):
        return True, steps, None, None, None  # tf.keras: a generator or a Dataset
    if validation_data:
        if len(validation_data) in (2, 3):
            val_x, val_y = validation_data[0], validation_data[1]
            samples = num_samples(val_x)
    elif 0. < split < 1.:
        total = num_samples(arguments.get('x'))
        samples = None if total is None else total - int(total * (1. - split))
        val_x = _split_targets(arguments.get('x'), split)
        val_y = _split_targets(arguments.get('y'), split)
    elif steps:
        return True, steps, None, None, None
    else:
        return False, None, None, None, None
    if steps is not None:
        return True, steps, None, None, None
    return True, _batches(samples, batch_size), samples, val_x, val_y


def _fit_generator_expectations(arguments):
    validation_data = arguments.get('validation_data')
    if not validation_data:
        return False, None, None, None, None
    steps = arguments.get('validation_steps')
    if isinstance(validation_data, _STACK[0].Sequence):
        return True, steps if steps is not None else len(validation_data), None, None, None
    if hasattr(validation_data, 'next') or hasattr(validation_data, '__next__'):
        return True, steps, None, None, None
    # Arrays: Keras evaluates them with the last training batch's size, so only the
    # sample count is known here.
    if len(validation_data) in (2, 3):
        return (True, None, num_samples(validation_data[0]), validation_data[0],
                validation_data[1])
    return True, None, None, None, None


def everything(model):
    """The widest `get_predict`: every output, and every input once the model has
    input names (a `Sequential` without an input shape gets them only when built)."""
    names = getattr(model, 'input_names', None)
    return {'outputs': True, 'inputs': list(names)} if names else True


def _bind(signature, self, args, kwargs):
    try:
        return signature.bind(self, *args, **kwargs)
    except TypeError:
        return None  # let Keras raise its own error for a bad call


def _forced_method(patched, name, force):
    """`patched` wrapped so that `force(self, bound)` handles the calls to force.

    Calls that already pass `get_predict`, calls Keras makes itself while validating, and
    calls that do not bind to the signature go to `patched` unchanged.
    """
    signature = inspect.signature(patched)

    def forced(self, *args, **kwargs):
        if 'get_predict' in kwargs or called_by_keras():
            return patched(self, *args, **kwargs)
        bound = _bind(signature, self, args, kwargs)
        if bound is None:
            return patched(self, *args, **kwargs)
        return force(self, bound)

    forced.__wrapped__ = patched
    forced.__name__ = name
    forced.__doc__ = patched.__doc__
    return forced


def make_forced_fit(patched, name, expectations, log=LOG):
    def force(self, bound):
        validates, batches, samples, val_x, val_y = expectations(bound.arguments)
        if not validates:
            return patched(*bound.args, **bound.kwargs)
        log.count_call()
        callbacks = list(bound.arguments.get('callbacks') or [])
        # Keras validates `fit_generator`'s arrays with the last training batch's size;
        # any batch size gives the same predictions up to rounding.
        predict_batch_size = None if callbacks else (bound.arguments.get('batch_size') or 32)
        check = type('_EpochCheck', (_EpochCheck, _STACK[0].Callback), {})
        bound.arguments['callbacks'] = callbacks + [check(
            log, name, batches, samples, val_y, val_x, predict_batch_size)]
        bound.arguments['get_predict'] = everything(self)
        return patched(*bound.args, **bound.kwargs)

    return _forced_method(patched, name, force)


def _evaluate_expectations(arguments):
    steps = arguments.get('steps')
    if steps is not None:
        return steps, None
    samples = num_samples(arguments.get('x'))
    return _batches(samples, arguments.get('batch_size') or 32), samples


def _evaluate_generator_expectations(arguments):
    steps = arguments.get('steps')
    generator = arguments.get('generator')
    if steps is None and isinstance(generator, _STACK[0].Sequence):
        steps = len(generator)
    return steps, None


def make_forced_evaluate(patched, name, expectations, log=LOG):
    def force(self, bound):
        batches, samples = expectations(bound.arguments)
        log.count_call()
        bound.arguments['get_predict'] = everything(self)
        result = patched(*bound.args, **bound.kwargs)
        if not (isinstance(result, tuple) and len(result) == 2):
            log.problem('%s: get_predict=True returned %r, not (metrics, gts_and_preds)'
                        % (name, type(result).__name__))
            return result
        metrics, gts_and_preds = result
        log.check(gts_and_preds, name, batches, samples)
        if name == 'evaluate':
            log.check_targets(gts_and_preds, name, bound.arguments.get('y'),
                              list(getattr(self, 'output_names', [])))
            if bound.arguments.get('steps') is None:
                log.check_predictions(gts_and_preds, name, self, bound.arguments.get('x'),
                                      bound.arguments.get('batch_size') or 32)
        log.check_inputs(gts_and_preds, name,
                         bound.arguments.get('x') if name == 'evaluate' else None,
                         list(getattr(self, 'input_names', None) or []))
        return metrics

    return _forced_method(patched, name, force)


_FORCED = [
    ('fit', 'plain', make_forced_fit, _fit_expectations),
    ('fit_generator', 'generator', make_forced_fit, _fit_generator_expectations),
    ('evaluate', 'plain', make_forced_evaluate, _evaluate_expectations),
    ('evaluate_generator', 'generator', make_forced_evaluate, _evaluate_generator_expectations),
]
_originals = {}


def install_forcing(log=LOG, target='keras'):
    """Wraps the (already patched) `Model` methods of `target` (`'keras'` or
    `'tf.keras'`). Needs `keras_getpredict.install()` first."""
    import keras_getpredict
    if not keras_getpredict.is_installed():
        raise RuntimeError('install_forcing() needs keras_getpredict.install() first.')
    if _originals:
        return
    _STACK[:] = [_Stack(target)]
    stack = _STACK[0]
    for name, kind, make, expectations in _FORCED:
        factory = stack.generator_method(make) if kind == 'generator' else make
        patched = vars(stack.Model)[name]
        _originals[name] = patched
        setattr(stack.Model, name, factory(patched, name, expectations, log))


def uninstall_forcing():
    for name, patched in list(_originals.items()):
        setattr(_STACK[0].Model, name, patched)
        del _originals[name]


def is_forcing():
    return bool(_originals)
