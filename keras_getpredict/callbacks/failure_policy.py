"""What a callback does when its own analysis code fails in the middle of a run.

Configuration errors raise early: in a callback's `__init__`, or against the first
epoch's predictions. After that, an unexpected error in the callback's own work
(metrics, plots, files, TensorBoard pictures) must not end hours of training: it is
reported once per callback with `warnings.warn`, traceback included, and training
goes on. With `KERAS_GETPREDICT_STRICT=1` (the test suite sets it) such errors
raise instead, so they cannot go unnoticed where they are looked for.

Only the callback's own analysis runs under `FailurePolicy.call`; errors of the
user's code and of Keras propagate unchanged.
"""
from __future__ import absolute_import

import traceback
import warnings

# One strict switch for the whole package: the capture's boundary reads it too.
from ..core.failures import STRICT_ENV, strict_mode  # noqa: F401 (re-exported)


class AnalysisFailedWarning(RuntimeWarning):
    """A callback's analysis failed during training; training went on without it."""


class FailurePolicy(object):
    """Runs one callback's analysis: raising in strict mode, else warning once.

    # Arguments
        owner: the name the warning gives the callback, e.g. `'EpochMetrics'`.

    # Attributes
        failures: how many calls failed so far (each warned about or not).
    """

    def __init__(self, owner):
        self.owner = owner
        self.failures = 0

    def call(self, doing, function, *args, **kwargs):
        """Returns `function(*args, **kwargs)`, or `None` when it raised an
        `Exception` outside strict mode.

        # Arguments
            doing: what the call does, for the warning (`'saving epoch 3'`).
            function: the callback's own analysis code.

        # Raises
            Exception: Whatever `function` raised, in strict mode.
        """
        try:
            return function(*args, **kwargs)
        except Exception:
            if strict_mode():
                raise
            self.failures += 1
            if self.failures == 1:
                warnings.warn(
                    '%s failed while %s; training goes on without it for this epoch. '
                    'Later failures of this callback are not reported. Set %s=1 to raise '
                    'instead.\n%s' % (self.owner, doing, STRICT_ENV, traceback.format_exc()),
                    AnalysisFailedWarning, stacklevel=2)
            return None
