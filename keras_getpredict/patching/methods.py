"""The replacements for `Model.fit`, `fit_generator`, `evaluate` and `evaluate_generator`,
and the two `training_arrays` hooks they rely on.

Where each path's validation forward pass happens, and how we reach it:

- `evaluate_generator`: every batch goes through `model.test_function`; we swap it
  for a `CapturingFunction` for the duration of the call.
- `evaluate` (arrays): `test_loop(model, f, ...)` receives the function; our
  `test_loop` hook wraps `f` when an `evaluate(get_predict=...)` call is pending.
- `fit` (arrays): `fit` binds `val_f = model.test_function` before training and hands
  it to `fit_loop`; our `fit_loop` hook wraps `val_f`, which only validation uses.
- `fit_generator`: validation calls `model.evaluate_generator`/`evaluate`, which read
  `model.test_function`. We swap it in only from the last training batch's
  `on_batch_end` (after every user callback) to the epoch's `on_epoch_end` (before any
  user callback), a window in which Keras runs the validation and nothing else, so a
  callback that evaluates on its own is never recorded.

Every swap is undone in `finally`; with `get_predict` off the original runs untouched.

Callbacks that turn the predictions into epoch-log scalars define
`on_predictions_published(epoch, logs)`: `_Publisher` calls it right after it fills the
logs, before any other user callback's `on_epoch_end`, so `TensorBoard`, `CSVLogger`,
`EarlyStopping`, ... see those scalars whatever their place in the list.
"""
from __future__ import absolute_import

import inspect

from keras.callbacks import Callback

from ..core import horovod_gather as distributed
from ..core.capture import BatchRecorder, CapturingFunction
from ..core.results import LOGS_KEY
from ..core.selection import check_names, parse_get_predict
from .signatures import with_get_predict

#: Method a callback defines to run right after the predictions are published.
PUBLISHED_HOOK = 'on_predictions_published'

# Attributes set on a model while one of its calls waits for `fit_loop`/`test_loop`.
_PENDING_FIT_LOOP = '_keras_getpredict_pending_fit_loop'
_PENDING_TEST_LOOP = '_keras_getpredict_pending_test_loop'


def _pop_pending(model, attribute):
    return model.__dict__.pop(attribute, None) if hasattr(model, '__dict__') else None


class _Publisher(Callback):
    """First of the user's callbacks: puts the epoch's predictions into the logs.

    For `fit_generator` it also closes the capture window (`disarm`) before any user
    callback runs, at every batch start and epoch end. Then it calls
    `on_predictions_published(epoch, logs)` of the user callbacks that define it,
    in list order. Under Horovod, `gather` (from `distributed.gatherer`) joins the
    ranks' shards first; it runs on every rank at every epoch end, even one that
    recorded nothing, so the collectives match.
    """

    def __init__(self, recorder, disarm=None, callbacks=(), gather=None):
        super(_Publisher, self).__init__()
        self.recorder = recorder
        self.disarm = disarm or (lambda: None)
        self.hooked = [cb for cb in callbacks
                       if callable(getattr(cb, PUBLISHED_HOOK, None))]
        self.gather = gather

    def on_epoch_begin(self, epoch, logs=None):
        self.recorder.clear()

    def on_batch_begin(self, batch, logs=None):
        self.disarm()

    def on_epoch_end(self, epoch, logs=None):
        self.disarm()
        if self.gather is not None:
            result = self.gather(self.recorder.take())
        else:
            result = self.recorder.take() if len(self.recorder) else None
        if logs is not None and result is not None:
            logs[LOGS_KEY] = result
            for callback in self.hooked:
                getattr(callback, PUBLISHED_HOOK)(epoch, logs)

    def on_train_end(self, logs=None):
        self.disarm()


class _Armer(Callback):
    """Last of the user's callbacks: opens the capture window after the epoch's last
    training batch, right before `fit_generator` validates."""

    def __init__(self, arm):
        super(_Armer, self).__init__()
        self.arm = arm

    def on_batch_end(self, batch, logs=None):
        steps = self.params.get('steps')
        if steps is None or batch + 1 >= steps:
            self.arm()


class _TestFunctionSwap(object):
    """Swaps `model.test_function` for a `CapturingFunction` and back."""

    def __init__(self, model, selection, recorder):
        self.model = model
        self.selection = selection
        self.recorder = recorder
        self.stock = None

    def arm(self):
        if self.stock is not None:
            return
        self.model._make_test_function()
        self.stock = self.model.test_function
        self.model.test_function = CapturingFunction(
            self.model, self.stock, self.selection, self.recorder)

    def disarm(self):
        if self.stock is None:
            return
        current = self.model.__dict__.get('test_function')
        # If the model was recompiled meanwhile, its new function stays.
        if isinstance(current, CapturingFunction) and current.recorder is self.recorder:
            self.model.test_function = self.stock
        self.stock = None


def _selection_for(model, get_predict):
    selection = parse_get_predict(get_predict)
    if selection is not None:
        check_names(model, selection)
    return selection


def _user_callbacks(arguments):
    # Copied, never mutated: the caller's list stays as it was.
    return list(arguments.get('callbacks') or [])


def _evaluated(selection, recorder):
    # Not gathered unless asked: scripts often evaluate on Horovod's rank 0 only.
    gather = distributed.gatherer(selection, default=False)
    return recorder.take() if gather is None else gather(recorder.take())


def make_fit(raw):
    signature = inspect.signature(raw)

    def fit(self, *args, **kwargs):
        selection = _selection_for(self, kwargs.pop('get_predict', False))
        if selection is None:
            return raw(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        arguments = bound.arguments
        if (arguments.get('validation_data') is None and
                not arguments.get('validation_split') and
                not arguments.get('validation_steps')):
            raise ValueError('`get_predict` needs validation data: pass '
                             '`validation_data` or `validation_split` to `fit`.')
        recorder = BatchRecorder()
        callbacks = _user_callbacks(arguments)
        gather = distributed.gatherer(selection, default='all')
        arguments['callbacks'] = ([_Publisher(recorder, callbacks=callbacks, gather=gather)] +
                                  callbacks)
        self.__dict__[_PENDING_FIT_LOOP] = (selection, recorder)
        try:
            with distributed.metric_averages_step_over_predictions(arguments['callbacks']):
                return raw(*bound.args, **bound.kwargs)
        finally:
            self.__dict__.pop(_PENDING_FIT_LOOP, None)

    return with_get_predict(raw, fit, (
        "At each epoch end `logs['%s']` holds the validation batches'\n"
        "    `{'y_true': [...], 'y_pred': [...]}`." % LOGS_KEY))


def make_fit_generator(raw):
    signature = inspect.signature(raw)

    def fit_generator(self, *args, **kwargs):
        selection = _selection_for(self, kwargs.pop('get_predict', False))
        if selection is None:
            return raw(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        arguments = bound.arguments
        if arguments.get('validation_data') is None:
            raise ValueError('`get_predict` needs validation data: pass '
                             '`validation_data` to `fit_generator`.')
        recorder = BatchRecorder()
        swap = _TestFunctionSwap(self, selection, recorder)
        callbacks = _user_callbacks(arguments)
        gather = distributed.gatherer(selection, default='all')
        arguments['callbacks'] = ([_Publisher(recorder, swap.disarm, callbacks, gather)] +
                                  callbacks + [_Armer(swap.arm)])
        try:
            with distributed.metric_averages_step_over_predictions(arguments['callbacks']):
                return raw(*bound.args, **bound.kwargs)
        finally:
            swap.disarm()

    return with_get_predict(raw, fit_generator, (
        "At each epoch end `logs['%s']` holds the validation batches'\n"
        "    `{'y_true': [...], 'y_pred': [...]}`." % LOGS_KEY))


def make_evaluate(raw):
    def evaluate(self, *args, **kwargs):
        selection = _selection_for(self, kwargs.pop('get_predict', False))
        if selection is None:
            return raw(self, *args, **kwargs)
        recorder = BatchRecorder()
        self.__dict__[_PENDING_TEST_LOOP] = (selection, recorder)
        try:
            metrics = raw(self, *args, **kwargs)
        finally:
            self.__dict__.pop(_PENDING_TEST_LOOP, None)
        return metrics, _evaluated(selection, recorder)

    return with_get_predict(raw, evaluate, (
        'Then returns `(metrics, gts_and_preds)`.'))


def make_evaluate_generator(raw):
    def evaluate_generator(self, *args, **kwargs):
        selection = _selection_for(self, kwargs.pop('get_predict', False))
        if selection is None:
            return raw(self, *args, **kwargs)
        recorder = BatchRecorder()
        swap = _TestFunctionSwap(self, selection, recorder)
        swap.arm()
        try:
            metrics = raw(self, *args, **kwargs)
        finally:
            swap.disarm()
        return metrics, _evaluated(selection, recorder)

    return with_get_predict(raw, evaluate_generator, (
        'Then returns `(metrics, gts_and_preds)`.'))


def make_fit_loop(raw):
    signature = inspect.signature(raw)

    def fit_loop(model, *args, **kwargs):
        pending = _pop_pending(model, _PENDING_FIT_LOOP)
        if pending is None:
            return raw(model, *args, **kwargs)
        bound = signature.bind(model, *args, **kwargs)
        val_f = bound.arguments.get('val_f')
        if val_f is not None:
            selection, recorder = pending
            bound.arguments['val_f'] = CapturingFunction(model, val_f, selection, recorder)
        return raw(*bound.args, **bound.kwargs)

    fit_loop.__wrapped__ = raw
    fit_loop.__doc__ = raw.__doc__
    fit_loop.__name__ = raw.__name__
    return fit_loop


def make_test_loop(raw):
    def test_loop(model, f, *args, **kwargs):
        pending = _pop_pending(model, _PENDING_TEST_LOOP)
        if pending is not None:
            selection, recorder = pending
            f = CapturingFunction(model, f, selection, recorder)
        return raw(model, f, *args, **kwargs)

    test_loop.__wrapped__ = raw
    test_loop.__doc__ = raw.__doc__
    test_loop.__name__ = raw.__name__
    return test_loop
