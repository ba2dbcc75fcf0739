"""The flow of one `get_predict` call, shared by both forms.

The run-time patch (`keras_getpredict.patching.methods`) and the fork's hook points in
Keras both call these, so capture, publishing into the logs, the publisher hook and
Horovod gathering exist once:

- `selection_for(model, get_predict)` parses and checks the argument (`None`: off).
- `fit_capture(model, selection, method, validates)` for `fit`/`fit_generator`:
  a `FitCapture` whose `callbacks(user_callbacks)` puts a `Publisher` in front of the
  user's callbacks; validation batches reach its recorder through
  `validation_function(val_f)` (`fit`: the `val_f` handed to `fit_loop`) or through
  `arm()`/`disarm()`, which swap `model.test_function` for the validation only
  (`fit_generator`, whose validation calls `evaluate_generator`/`evaluate`).
  `begin()`/`end()` bracket the training run.
- `EvaluateCapture(model, selection)` for `evaluate`/`evaluate_generator` whose `run(call)` evaluates with a capturing test function and
  returns `(metrics, gts_and_preds)`.

Callbacks that turn the predictions into epoch-log scalars define
`on_predictions_published(epoch, logs)`: the `Publisher` calls it right after it fills
the logs, before any user callback's `on_epoch_end`, so `TensorBoard`, `CSVLogger`,
`EarlyStopping`, ... see those scalars whatever their place in the list.
"""
from __future__ import absolute_import

from keras.callbacks import Callback

from . import horovod_gather, keras_internals
from .capture import BatchRecorder, CapturingFunction
from .results import LOGS_KEY
from .selection import check_names, parse_get_predict
from .streaming import StreamingRecorder, expected_output_names

#: Method a callback defines to run right after the predictions are published.
PUBLISHED_HOOK = 'on_predictions_published'


def selection_for(model, get_predict):
    """Parses a `get_predict` argument and checks its names against `model`.

    # Returns
        A `Selection`, or `None` when `get_predict` is off.

    # Raises
        TypeError: In case `get_predict` is none of the accepted forms.
        ValueError: In case it selects nothing or names an unknown output/input.
    """
    selection = parse_get_predict(get_predict)
    if selection is not None:
        check_names(model, selection)
    return selection


def recorder_for(model, selection):
    """A `StreamingRecorder` in reducing mode (`get_predict['reduce']`), else a
    `BatchRecorder`."""
    if selection.reduce is not None:
        return StreamingRecorder(selection.reduce, expected_output_names(model, selection))
    return BatchRecorder()


def fit_validates(validation_data=None, validation_split=0., validation_steps=None):
    """Whether `Model.fit` will validate, by keras/engine/training.py's own rule:
    non-empty `validation_data`, `0 < validation_split < 1`, or `validation_steps`."""
    if validation_data is not None and len(validation_data):
        return True
    if validation_split and 0. < validation_split < 1.:
        return True
    return bool(validation_steps)


def needs_validation_data(method, what):
    """The error raised when `get_predict` is asked for with nothing to validate on."""
    return ValueError('`get_predict` needs validation data: pass %s to `%s`.'
                      % (what, method))


class Publisher(Callback):
    """First of the user's callbacks: puts the epoch's predictions into the logs.

    At every epoch end it closes the capture window (`disarm`) before any user
    callback runs, takes what the recorder holds (gathered across Horovod ranks by
    `gather`, which then runs on every rank at every epoch end, even one that
    recorded nothing, so the collectives match), puts it under
    `logs['val_gts_and_preds']`, and calls `on_predictions_published(epoch, logs)` of
    the user callbacks that define it, in list order. An epoch without predictions
    leaves no entry: a stale one in a reused logs dict is removed.
    """

    def __init__(self, recorder, callbacks=(), gather=None, disarm=None):
        super(Publisher, self).__init__()
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
        if logs is None:
            return
        if result is None:
            logs.pop(LOGS_KEY, None)
            return
        logs[LOGS_KEY] = result
        for callback in self.hooked:
            getattr(callback, PUBLISHED_HOOK)(epoch, logs)

    def on_train_end(self, logs=None):
        self.disarm()


class Armer(Callback):
    """Last of the user's callbacks (run-time patch of `fit_generator`): opens the
    capture window after the epoch's last training batch, right before Keras
    validates, and after every user callback's `on_batch_end`."""

    def __init__(self, arm):
        super(Armer, self).__init__()
        self.arm = arm

    def on_batch_end(self, batch, logs=None):
        steps = self.params.get('steps')
        if steps is None or batch + 1 >= steps:
            self.arm()


class TestFunctionSwap(object):
    """Swaps `model.test_function` for a `CapturingFunction` and back."""

    def __init__(self, model, selection, recorder):
        self.model = model
        self.selection = selection
        self.recorder = recorder
        self.stock = None

    def arm(self):
        if self.stock is not None:
            return
        self.stock = keras_internals.built_test_function(self.model)
        keras_internals.set_test_function(self.model, CapturingFunction(
            self.model, self.stock, self.selection, self.recorder))

    def disarm(self):
        if self.stock is None:
            return
        current = keras_internals.test_function_set_on(self.model)
        # If the model was recompiled meanwhile, its new function stays.
        if isinstance(current, CapturingFunction) and current.recorder is self.recorder:
            keras_internals.set_test_function(self.model, self.stock)
        self.stock = None


class FitCapture(object):
    """One `fit`/`fit_generator` call with `get_predict` on; see the module doc."""

    def __init__(self, model, selection):
        self.model = model
        self.selection = selection
        self.recorder = recorder_for(model, selection)
        self._swap = TestFunctionSwap(model, selection, self.recorder)
        # Every rank runs `fit`, so the shards are gathered by default.
        self.gather = horovod_gather.gatherer(selection, default='all')
        self._restore = None

    def validation_function(self, val_f):
        """`val_f` that also records each batch (`fit`: the function `fit_loop` validates with)."""
        return CapturingFunction(self.model, val_f, self.selection, self.recorder)

    def arm(self):
        """From now on `model.test_function` records (until `disarm()`)."""
        self._swap.arm()

    def disarm(self):
        self._swap.disarm()

    def callbacks(self, user_callbacks, window=False):
        """The callbacks to train with: the `Publisher`, then `user_callbacks` (a copy:
        the caller's list is never changed), then, with `window`, the `Armer`."""
        user_callbacks = list(user_callbacks or [])
        publisher = Publisher(self.recorder, user_callbacks, self.gather, self.disarm)
        return [publisher] + user_callbacks + ([Armer(self.arm)] if window else [])

    def begin(self, callbacks):
        """Before training: Horovod's metric averaging steps over the predictions."""
        self._restore = horovod_gather.step_over_predictions_in_metric_averages(callbacks)

    def end(self):
        """After training, also when it raised: everything as it was found."""
        self.disarm()
        restore, self._restore = self._restore, None
        if restore is not None:
            restore()


def fit_capture(model, selection, method, validates):
    """The `FitCapture` of a `fit`/`fit_generator` call with `get_predict` on.

    Checked before anything runs, so a call that cannot capture costs no training.

    # Arguments
        model: the model being trained.
        selection: what `selection_for` made of the call's `get_predict`.
        method: `'fit'` or `'fit_generator'`, for messages.
        validates: whether the call will validate at all.

    # Raises
        ValueError: In case there is nothing to validate on.
    """
    if not validates:
        raise needs_validation_data(method, (
            '`validation_data` or `0 < validation_split < 1`' if method == 'fit'
            else '`validation_data`'))
    return FitCapture(model, selection)


class EvaluateCapture(object):
    """One `evaluate`/`evaluate_generator` call with `get_predict` on."""

    def __init__(self, model, selection):
        self.model = model
        self.selection = selection
        self.recorder = recorder_for(model, selection)
        # Not gathered unless asked: scripts often evaluate on Horovod's rank 0 only.
        self.gather = horovod_gather.gatherer(selection, default=False)

    def capturing_function(self, f):
        """`f` (the test function `evaluate` hands to `test_loop`) that also records."""
        return CapturingFunction(self.model, f, self.selection, self.recorder)

    def run(self, call):
        """Runs `call()` (the stock evaluation) with a capturing `model.test_function`.

        # Returns
            `(metrics, gts_and_preds)`, as `result` makes it.
        """
        swap = TestFunctionSwap(self.model, self.selection, self.recorder)
        swap.arm()
        try:
            metrics = call()
        finally:
            swap.disarm()
        return self.result(metrics)

    def result(self, metrics):
        """`(metrics, gts_and_preds)`: what the evaluation recorded, gathered if asked."""
        taken = self.recorder.take()
        return metrics, (taken if self.gather is None else self.gather(taken))
