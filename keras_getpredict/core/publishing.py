"""The flow of one `get_predict` call, shared by both forms.

The run-time patch (`keras_getpredict.patching.methods`) and the fork's hook points in
Keras both call these, so merging requests, capture, publishing into the logs, the
publisher hook and Horovod gathering exist once:

- `entry_point` decorates `fit`/`fit_generator`/`evaluate`/`evaluate_generator`, so
  only a thread's outermost call takes the requests of its callbacks and of the open
  `capturing` blocks (`core/calls.py`); what a call captures is its `Plan` (`core/plan.py`).
- `fit_call(model, method, get_predict, callbacks, validates)` for `fit`/`fit_generator`:
  the callbacks to train with (the open blocks' added) and a `FitCapture`, or `None`
  when nothing asks for capture. The capture's `callbacks(callbacks)` puts a
  `Publisher` in front of them; validation batches reach its recorder through
  `validation_function(val_f)` (`fit`: the `val_f` handed to `fit_loop`) or through
  `arm()`/`disarm()`, which swap `model.test_function` for the validation only
  (`fit_generator`, whose validation calls `evaluate_generator`/`evaluate`).
  `begin()`/`end()` bracket the training run.
- `evaluate_capture(model, get_predict)` for `evaluate`/`evaluate_generator`: an
  `EvaluateCapture` whose `run(call)` evaluates with a capturing test function and
  returns `(metrics, gts_and_preds)`, or `None` when nothing asks for capture.

Each call resolves its model's Keras family (`core.families`) once, or takes the one
`install()` resolved for the patched methods (`family=`), and passes it down to the
capture, the mode, the recorders and the Horovod collectives: nothing below asks again.

Callbacks that turn the predictions into epoch-log scalars define
`on_predictions_published(epoch, logs)`: the `Publisher` calls it right after it fills
the logs, before any user callback's `on_epoch_end`, so `TensorBoard`, `CSVLogger`,
`EarlyStopping`, ... see those scalars whatever their place in the list.
"""
from __future__ import absolute_import

import sys

from . import calls, families
from .horovod import gather as horovod_gather
from .modes import combiner_for
from .plan import asks_for_capture, plan_call
from .recording import RecordingFunction
from .failures import Boundary, ConfigurationError, passes, safe_hooks, theirs
from .requests import CALL
from .results import LOGS_KEY

#: Decorates the four methods (see `core/calls.py`).
entry_point = calls.entry_point

#: Method a callback defines to run right after the predictions are published.
PUBLISHED_HOOK = 'on_predictions_published'


def fit_validates(validation_data=None, validation_split=0., validation_steps=None,
                  family=None):
    """Whether `Model.fit` will validate, by `family`'s own rule (`Family.fit_validates`;
    without a family, standalone Keras' keras/engine/training.py rule: non-empty
    `validation_data`, `0 < validation_split < 1`, or `validation_steps`)."""
    if family is None:
        return families.keras_fit_validates(validation_data, validation_split,
                                            validation_steps)
    return family.fit_validates(validation_data, validation_split, validation_steps)


#: What each method validates on, for the error when it has none.
VALIDATION_ARGUMENTS = {'fit': '`validation_data` or `0 < validation_split < 1`',
                        'fit_generator': '`validation_data`'}


def needs_validation_data(method, requests=()):
    """The error raised when capture is asked for with nothing to validate on: it names
    who asked and where the call came from (a library's `train()`, say)."""
    asked = [r.source for r in requests if r.source != CALL]
    where = calls.outside_keras()
    return ConfigurationError(
        '`get_predict` needs validation data: pass %s to `%s`.%s%s'
        % (VALIDATION_ARGUMENTS.get(method, '`validation_data`'), method,
           ' Capture was asked for by %s.' % ', '.join(asked) if asked else '',
           ' `%s` was called from %s, line %d.' % ((method,) + where) if where else ''))


def take_recorded(recorder, combine, boundary, doing):
    """What `recorder` holds, combined across Horovod ranks by `combine` when given (the
    mode's combiner: predictions gathered, counts summed), under the call's failure
    `boundary`: `None` when nothing was recorded or our code failed.

    A rank whose capture failed still takes part in `combine`'s collectives (saying it
    failed), so no rank waits for it, and then no rank publishes that epoch.
    """
    if combine is None:
        if boundary.failed:
            return None
        result = boundary.run(doing, lambda: recorder.take() if len(recorder) else None)
    else:
        recorded = None if boundary.failed else boundary.run(doing, recorder.take)
        result = boundary.run(doing, combine, recorded, boundary.failed)
    return None if boundary.failed else result


@safe_hooks
class Publisher(object):
    """First of the user's callbacks: puts the epoch's predictions into the logs.

    Base-free: `FitCapture.callbacks` trains with its face
    (`families.callback_face`), a Keras `Callback` that runs in either stack.
    Each of its hooks runs inside the call's failure `boundary` (`failures.SafeHooks`);
    the user callbacks' `on_predictions_published` run outside it (`failures.theirs`).

    At every epoch end it closes the capture window (`disarm`) before any user
    callback runs, takes what the recorder holds (combined across Horovod ranks by
    `combine`, which then runs on every rank at every epoch end, even one that
    recorded nothing, so the collectives match), puts it under
    `logs['val_gts_and_preds']`, and calls `on_predictions_published(epoch, logs)` of
    the user callbacks that define it, in list order. An epoch without predictions
    leaves no entry: a stale one in a reused logs dict is removed, and so does an
    epoch in which our own code failed (`boundary`, see `core/failures.py`).
    """

    def __init__(self, recorder, callbacks=(), combine=None, disarm=None, boundary=None):
        super(Publisher, self).__init__()
        self.recorder = recorder
        self.disarm = disarm or (lambda: None)
        self.hooked = [cb for cb in callbacks
                       if callable(getattr(cb, PUBLISHED_HOOK, None))]
        self.combine = combine
        self.failure_boundary = boundary if boundary is not None else Boundary('fit')

    def on_epoch_begin(self, epoch, logs=None):
        self.recorder.clear()

    def on_batch_begin(self, batch, logs=None):
        self.disarm()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            # No stale entry in a reused logs dict, also when what follows fails.
            logs.pop(LOGS_KEY, None)
        self.disarm()
        result = take_recorded(self.recorder, self.combine, self.failure_boundary,
                               'publishing the predictions of epoch %d' % (epoch + 1))
        if logs is None or result is None:
            return
        logs[LOGS_KEY] = result
        for callback in self.hooked:
            theirs(getattr(callback, PUBLISHED_HOOK), epoch, logs)

    def on_train_end(self, logs=None):
        self.disarm()


@safe_hooks
class Armer(object):
    """Last of the user's callbacks (run-time patch of `fit_generator`, and of tf.keras
    `fit`): opens the capture window after the epoch's last training batch, right
    before Keras validates, and after every user callback's `on_batch_end`. Base-free,
    and inside the call's failure `boundary`, as `Publisher`."""

    def __init__(self, arm, boundary=None):
        super(Armer, self).__init__()
        self.arm = arm
        self.failure_boundary = boundary if boundary is not None else Boundary('fit')

    def on_batch_end(self, batch, logs=None):
        steps = self.params.get('steps')
        if steps is None or batch + 1 >= steps:
            self.arm()


class CallCapture(object):
    """What one call with capture on holds: its `Plan` (the Keras family, the selection
    and the mode, chosen once), the recorder, the Horovod combiner and the failure
    boundary.

    # Arguments
        model: the model the call runs.
        plan: the call's `Plan` (`core/plan.py`), with a selection.
        boundary: the call's `failures.Boundary`.
    """

    def __init__(self, model, plan, boundary):
        self.model = model
        self.family = plan.family
        self.selection = plan.selection
        self.mode = plan.mode
        self.boundary = boundary
        self.recorder = self.mode.recorder(model, self.selection)
        self.combine = combiner_for(self.mode, self.selection, plan.gather)

    def recording_function(self, f):
        """`f` (a test function) that also records each batch it runs."""
        return RecordingFunction(self.model, f, self.selection, self.recorder, self.boundary,
                                 self.mode.fetches)


class TestFunctionSwap(object):
    """Swaps `model.test_function` for a `RecordingFunction` of `capture` and back."""

    def __init__(self, capture):
        self.capture = capture
        self.stock = None

    def arm(self):
        if self.stock is not None or self.capture.boundary.failed:
            return
        self.capture.boundary.run('swapping in the capturing test function', self._arm)

    def _arm(self):
        model, family = self.capture.model, self.capture.family
        stock = family.built_test_function(model)
        family.set_test_function(model, self.capture.recording_function(stock))
        self.stock = stock

    def disarm(self):
        if self.stock is not None:
            self.capture.boundary.run('restoring the stock test function', self._disarm)

    def _disarm(self):
        family = self.capture.family
        current = family.test_function_set_on(self.capture.model)
        # If the model was recompiled meanwhile, its new function stays. If Keras
        # rebuilt the test function while armed (`keep_capturing`), the stock function
        # the capturing one wraps now is the current one, not the one seen at `arm`.
        if isinstance(current, RecordingFunction) and \
                current.recorder is self.capture.recorder:
            family.set_test_function(self.capture.model, current.stock_function)
        self.stock = None


def keep_capturing(family, model, before):
    """After Keras built `model.test_function` (its `_make_test_function`; `family`:
    the model's Keras family, which patched it): when the
    function set before (`before`) was one of our `RecordingFunction`s and Keras
    replaced it by a fresh stock one (tf.keras rebuilds it when the sample-weight mode
    changes), the fresh one is wrapped the same way, so the capture goes on."""
    current = family.test_function_set_on(model)
    if isinstance(before, RecordingFunction) and current is not before and \
            current is not None and not isinstance(current, RecordingFunction):
        family.set_test_function(model, RecordingFunction(
            before.model, current, before.selection, before.recorder, before.boundary,
            before.make_fetches))


class FitCapture(CallCapture):
    """One `fit`/`fit_generator` call with capture on; see the module doc."""

    def __init__(self, model, plan, boundary):
        super(FitCapture, self).__init__(model, plan, boundary)
        self._swap = TestFunctionSwap(self)
        self._restore = None

    def validation_function(self, val_f):
        """`val_f` that also records each batch (`fit`: the function `fit_loop` validates with)."""
        return self.recording_function(val_f)

    def arm(self):
        """From now on `model.test_function` records (until `disarm()`). Inside the
        boundary: the fork's training loop calls it directly, as it calls `disarm`."""
        self.boundary.run('swapping in the capturing test function', self._swap.arm)

    def disarm(self):
        self.boundary.run('restoring the stock test function', self._swap.disarm)

    def callbacks(self, user_callbacks, window=False):
        """The callbacks to train with: the `Publisher`, then `user_callbacks` (a copy:
        the caller's list is never changed), then, with `window`, the `Armer`."""
        user_callbacks = list(user_callbacks or [])
        ours = self.boundary.run('adding its callbacks', self._ours, user_callbacks, window)
        if ours is None:  # our code failed: the user's callbacks alone, capture off
            return user_callbacks
        publisher, armer = ours
        return [publisher] + user_callbacks + armer

    def _ours(self, user_callbacks, window):
        # Keras callbacks that also carry the hooks tf.keras' CallbackList calls.
        publisher = families.callback_face(Publisher)(
            self.recorder, user_callbacks, self.combine, self.disarm, self.boundary)
        armer = [families.callback_face(Armer)(self.arm, self.boundary)] if window else []
        return publisher, armer

    def begin(self, callbacks):
        """Before training: Horovod's metric averaging steps over the predictions."""
        self._restore = self.boundary.run(
            "preparing Horovod's metric averaging",
            horovod_gather.step_over_predictions_in_metric_averages, callbacks, self.family)

    def end(self):
        """After training, also when it raised: everything as it was found."""
        self.disarm()
        restore, self._restore = self._restore, None
        if restore is not None:
            self.boundary.run("restoring Horovod's metric averaging", restore)


def fit_call(model, method, get_predict, callbacks, validates, family=None):
    """What one `fit`/`fit_generator` call trains with.

    Checked before anything runs, so a call that cannot capture costs no training.

    # Arguments
        model: the model being trained.
        method: `'fit'` or `'fit_generator'`, for messages.
        get_predict: the call's own argument.
        callbacks: the call's callbacks (a list, or `None`).
        validates: whether the call will validate at all (or a function returning
            it, asked only when capture is on).
        family: the model's Keras family, when the caller knows it (the run-time
            patch resolved it at `install()`); else resolved here, once.

    # Returns
        `(callbacks, capture)`: the callbacks with those of the open `capturing`
        blocks added (the same object when there are none), and a `FitCapture`, or
        `None` when neither the call, nor a callback, nor a block asks for capture.

    # Raises
        ConfigurationError: In case a request is malformed (a `ConfigurationTypeError`
            for a wrong type) or requests cannot be merged (see `core/plan.py`), or
            capture is asked for with nothing to validate on. Any other error of ours
            warns (see `core/failures.py`) and the call runs as stock Keras.
    """
    boundary = Boundary(method)
    given = callbacks
    try:
        plan = plan_call(model, method, get_predict, callbacks, family)
        if plan.selection is None:
            return plan.callbacks, None
        if not (theirs(validates) if callable(validates) else validates):
            raise needs_validation_data(method, plan.requests)
        capture = FitCapture(model, plan, boundary)
        # Before the first training batch, where the shapes tell.
        capture.mode.check(model, plan.selection)
        return plan.callbacks, capture
    except Exception as e:
        if passes(e):
            raise  # configuration errors, and Keras' or the user's, as they are
        # Our own error, whatever its type: the call runs as stock Keras, as it was given.
        boundary.fail('working out what to capture', sys.exc_info())
        return given, None


def evaluate_capture(model, get_predict, family=None):
    """The `EvaluateCapture` of one `evaluate`/`evaluate_generator` call, or `None`
    when neither the call nor an open `capturing` block asks for capture (a
    `StockEvaluation` when it was asked but our own code failed; `family`: as
    `fit_call`'s).

    # Raises
        ConfigurationError: As `plan.plan_call`. Any other error of ours warns and the
            call runs as stock Keras.
    """
    boundary = Boundary('evaluate')
    asked = asks_for_capture(get_predict)
    try:
        plan = plan_call(model, 'evaluate', get_predict, family=family)
        if plan.selection is None:
            return None
        asked = True
        return EvaluateCapture(model, plan, boundary)
    except Exception as e:
        if passes(e):
            raise  # configuration errors, as they are
        # Our own error, whatever its type: the call runs as stock Keras, and returns
        # `(metrics, None)` when capture was asked for.
        boundary.fail('working out what to capture', sys.exc_info())
        return StockEvaluation() if asked else None


class StockEvaluation(object):
    """An evaluation asked to capture whose capture failed before it ran: stock Keras."""

    def recording_function(self, f):
        return f

    def run(self, call):
        """`(call(), None)`: the stock result, no predictions."""
        return self.result(call())

    def result(self, metrics):
        return metrics, None


class EvaluateCapture(CallCapture):
    """One `evaluate`/`evaluate_generator` call with capture on."""

    def run(self, call):
        """Runs `call()` (the stock evaluation) with a capturing `model.test_function`.

        # Returns
            `(metrics, gts_and_preds)`, as `result` makes it.
        """
        swap = TestFunctionSwap(self)
        swap.arm()
        try:
            metrics = call()
        finally:
            swap.disarm()
        return self.result(metrics)

    def result(self, metrics):
        """`(metrics, gts_and_preds)`: what the evaluation recorded, gathered if asked;
        `None` for the predictions when our own code failed during the call."""
        if self.combine is None and not self.boundary.failed:
            # Evaluation returns an empty result rather than None when nothing ran.
            return metrics, self.boundary.run('collecting the predictions', self.recorder.take)
        return metrics, take_recorded(self.recorder, self.combine, self.boundary,
                                      'collecting the predictions')
