"""`PredictionsCallback`: what every callback reading `logs['val_gts_and_preds']` shares.

Asking for the capture it needs (`get_predict`), finding the predictions (and saying
once when they are missing), validating the configuration against the first epoch that
has them, running the analysis under the `FailurePolicy`, and the epoch bookkeeping of
callbacks that write scalars into the logs: once per epoch, the same keys every epoch.
"""
from __future__ import absolute_import

import warnings

import numpy as np
from keras.callbacks import Callback

from ..core.results import LOGS_KEY
from .failure_policy import FailurePolicy


class PredictionsCallback(Callback):
    """Base class of the callbacks that work on the epoch's validation predictions.

    A subclass asks for what it needs in `get_predict` (the language of the argument
    of `fit_generator`): `fit` and `fit_generator` merge the requests of the
    callbacks in their list with their own `get_predict`, so the callback alone
    switches capture on. Any Keras callback may ask the same way.

    A subclass that writes scalars into the epoch logs implements `log_epoch`;
    the base class runs it exactly once per epoch, from `on_predictions_published`
    (right after the predictions are published, before any callback's
    `on_epoch_end`, so `TensorBoard` or `ModelCheckpoint` anywhere in the list see
    the scalars) or from `on_epoch_end` in loops that fill the logs without
    keras-getpredict's publisher. It writes the same keys every epoch: NaN under the
    keys of the last epoch with values when an epoch has no predictions or its
    analysis failed, so `CSVLogger` keeps its columns, `ModelCheckpoint`'s
    `filepath` keeps formatting, and a reused logs dict never shows an earlier
    epoch's numbers as this one's. Callbacks that write files or pictures override
    `on_epoch_end` instead, and call `predictions_in`, `validate_once` and
    `run_analysis` themselves.

    # Attributes
        get_predict: what the callback asks `fit`/`fit_generator` to capture, a
            `get_predict` value; `None` asks nothing.
        missing_advice: the end of the warning given once when an epoch's logs
            hold no predictions (it follows `"<Class> found no '...' in the epoch
            logs"`).
        failure_policy: the `FailurePolicy` of this callback.
    """

    get_predict = None
    missing_advice = '; pass `get_predict=True` and validation data.'

    def __init__(self):
        super(PredictionsCallback, self).__init__()
        self.failure_policy = FailurePolicy(type(self).__name__)
        self._warned_missing = False
        self._validated = False
        self._logged = None
        self._written = []

    def on_train_begin(self, logs=None):
        # A callback reused for another `fit` checks its settings against that run.
        self._validated = False
        self._logged = None

    def predictions_in(self, logs):
        """`logs['val_gts_and_preds']`, or `None` (with one warning per callback)."""
        gts_and_preds = (logs or {}).get(LOGS_KEY)
        if gts_and_preds is None and not self._warned_missing:
            self._warned_missing = True
            warnings.warn("%s found no '%s' in the epoch logs%s"
                          % (type(self).__name__, LOGS_KEY, self.missing_advice))
        return gts_and_preds

    def validate(self, *args):
        """Raises `ValueError`/`TypeError` in case the configuration does not fit
        the first epoch's predictions. Nothing to check by default."""

    def validate_once(self, *args):
        """Calls `validate(*args)` at the first call of each run; its errors raise."""
        if not self._validated:
            self.validate(*args)
            self._validated = True

    def run_analysis(self, doing, function, *args):
        """`function(*args)` under the failure policy: its result, or `None` when it
        failed outside strict mode (after one warning per callback)."""
        return self.failure_policy.call(doing, function, *args)

    # -- scalars into the epoch logs -------------------------------------------------

    def log_epoch(self, epoch, logs):
        """The scalars this callback writes for `epoch`, computed from `logs` (with
        `predictions_in`, `validate_once` and `run_analysis`): a dict of logs key to
        number, or `None` when this epoch has none (no predictions, or the analysis
        failed). Callbacks that write no scalars leave it as it is."""
        return None

    def on_predictions_published(self, epoch, logs):
        self._log_once(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._log_once(epoch, logs)

    def _log_once(self, epoch, logs):
        if logs is None:
            return
        # Once per epoch and predictions object: the published hook, then `on_epoch_end`.
        key = (epoch, id(logs.get(LOGS_KEY)))
        if self._logged == key:
            return
        self._logged = key
        values = self.log_epoch(epoch, logs)
        if values is None:
            logs.update((k, np.float64(np.nan)) for k in self._written)
            return
        # Our own keys from the previous epoch are no clash.
        clash = [k for k in values if k in logs and k not in self._written]
        if clash:
            raise ValueError('%s would overwrite %s, already in the epoch logs (Keras 2.3 '
                             "logs `compile(metrics=['accuracy'])` as `val_accuracy`). Pass "
                             "another `prefix` (now %r), e.g. 'val_sk_', or compile with "
                             "'acc'." % (type(self).__name__, clash,
                                         getattr(self, 'prefix', None)))
        logs.update((k, np.float64(v)) for k, v in values.items())
        self._written = list(values)
