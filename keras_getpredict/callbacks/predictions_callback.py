"""`PredictionsCallback`: what every callback reading `logs['val_gts_and_preds']` shares.

Finding the predictions (and saying once when they are missing), validating the
configuration against the first epoch that has them, and running the analysis
under the `FailurePolicy`.
"""
from __future__ import absolute_import

import warnings

from keras.callbacks import Callback

from ..core.results import LOGS_KEY
from .failure_policy import FailurePolicy


class PredictionsCallback(Callback):
    """Base class of the callbacks that work on the epoch's validation predictions.

    Subclasses call `predictions_in(logs)`, then `validate_once(...)` (which runs
    their `validate` at the first epoch of each run that has predictions and lets
    its errors raise), then `run_analysis(...)` for their own work.

    # Attributes
        missing_advice: the end of the warning given once when an epoch's logs
            hold no predictions (it follows `"<Class> found no '...' in the epoch
            logs"`).
        failure_policy: the `FailurePolicy` of this callback.
    """

    missing_advice = '; pass `get_predict=True` and validation data.'

    def __init__(self):
        super(PredictionsCallback, self).__init__()
        self.failure_policy = FailurePolicy(type(self).__name__)
        self._warned_missing = False
        self._validated = False

    def on_train_begin(self, logs=None):
        # A callback reused for another `fit` checks its settings against that run.
        self._validated = False

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

    def log_once_per_epoch(self, epoch, logs, log):
        """Calls `log(epoch, logs)` once per epoch and predictions object: from
        `on_predictions_published` (before any `on_epoch_end`), or from
        `on_epoch_end` in loops that fill the logs without keras-getpredict's
        publisher."""
        logs = logs if logs is not None else {}
        key = (epoch, id(logs.get(LOGS_KEY)))
        if getattr(self, '_logged_once', None) != key:
            self._logged_once = key
            log(epoch, logs)

    def run_analysis(self, doing, function, *args):
        """`function(*args)` under the failure policy: its result, or `None` when it
        failed outside strict mode (after one warning per callback)."""
        return self.failure_policy.call(doing, function, *args)
