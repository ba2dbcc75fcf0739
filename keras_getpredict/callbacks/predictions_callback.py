"""`PredictionsCallback`: what every callback reading `logs['val_gts_and_preds']` shares.

Asking for the capture it needs (`get_predict`), finding the predictions (and saying
once when they are missing), validating the configuration against the first epoch that
has them, and running the analysis under the `FailurePolicy` (as every hook); the epoch
bookkeeping of those that write scalars comes from `EpochScalars`.
"""
from __future__ import absolute_import

import warnings

from ..core import families
from ..core.results import LOGS_KEY
from .epoch_scalars import EpochScalars
from ..core.failures import FailurePolicy, checked


class PredictionsCallback(EpochScalars):
    """Base class of the callbacks that work on the epoch's validation predictions.

    A subclass asks for what it needs in `get_predict` (the language of the argument
    of `fit_generator`): `fit` and `fit_generator` merge the requests of the
    callbacks in their list with their own `get_predict`, so the callback alone
    switches capture on. Any Keras callback may ask the same way.

    A subclass that writes scalars into the epoch logs implements `log_epoch`
    (see `EpochScalars`: once per epoch, the same keys every epoch, NaN when an epoch
    has no predictions or its analysis failed). Callbacks that write files or
    pictures override `on_epoch_end` instead, and call `predictions_in`,
    `validate_once` and `run_analysis` themselves.

    # Attributes
        get_predict: what the callback asks `fit`/`fit_generator` to capture, a
            `get_predict` value; `None` asks nothing.
        missing_advice: the end of the warning given once when an epoch's logs
            hold no predictions (it follows `"<Class> found no '...' in the epoch
            logs"`).
        failure_boundary: the `FailurePolicy` of this callback: every hook runs
            inside it (`core/failures.py`), and so does `run_analysis`.
    """

    get_predict = None
    missing_advice = '; pass `get_predict=True` and validation data.'

    def __init__(self):
        super(PredictionsCallback, self).__init__()
        self.failure_boundary = FailurePolicy(type(self).__name__)
        self._warned_missing = False
        self._validated = False

    def on_train_begin(self, logs=None):
        if self.get_predict is not None and getattr(self, 'model', None) is not None:
            # Asking for capture on a Keras `install()` left stock raises here, at the
            # start of training, rather than leaving every epoch without predictions.
            self.family = families.supported_family_of(self.model, type(self).__name__)
        super(PredictionsCallback, self).on_train_begin(logs)
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
        """Calls `validate(*args)` at the first call of each run; its `ValueError`s
        and `TypeError`s raise as configuration errors (`failures.checked`)."""
        if not self._validated:
            checked(self.validate, *args)
            self._validated = True

    def run_analysis(self, doing, function, *args):
        """`function(*args)` under the failure policy: its result, or `None` when it
        failed outside strict mode (after one warning per callback)."""
        return self.failure_boundary.run(doing, function, *args)
