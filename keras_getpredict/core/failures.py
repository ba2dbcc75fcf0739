"""The failure boundary around keras-getpredict's own code in a user's run.

A bug of ours must not cost a night of training. So, as MLflow's `safe_patch` does:

- **Configuration errors raise at once**: a malformed `get_predict`, requests that do not
  merge, no validation data (all raised before anything trains), and, during the run, a
  `ConfigurationError`: a selection that does not fit the model's outputs, the data, or
  the other Horovod ranks.
- **Errors of the original Keras call and of the user's code propagate unchanged**: a
  layer or a generator that fails, a user callback that raises.
- **Any other exception inside our own code** (building the capturing function, recording
  a batch, publishing an epoch, gathering or summing across ranks) warns once per call
  with the traceback (a `CaptureFailedWarning`) and falls back to stock behaviour: the
  epoch keeps Keras' own `val_loss` and metrics without the predictions entry, an
  evaluation returns its stock result with `None` for the predictions, and capture stays
  off for the rest of that call.
- **`KERAS_GETPREDICT_STRICT=1`** makes those raise instead (the test suite sets it).
"""
from __future__ import absolute_import

import os
import sys
import traceback
import warnings

import six

#: Environment variable that makes our own unexpected errors raise; read at each failure.
STRICT_ENV = 'KERAS_GETPREDICT_STRICT'


def strict_mode():
    """Whether `KERAS_GETPREDICT_STRICT` is set to something other than empty, `0`,
    `false`, `no` or `off`."""
    value = os.environ.get(STRICT_ENV, '').strip().lower()
    return value not in ('', '0', 'false', 'no', 'off')


class ConfigurationError(ValueError):
    """What the user asked for does not fit the model, the data or the other ranks.

    Raised during the run whatever the failure policy; a `ValueError`, as Keras raises
    for arguments that do not fit.
    """


class CaptureFailedWarning(RuntimeWarning):
    """keras-getpredict's own capture failed during a call; the call went on as stock
    Keras, without the predictions."""


class Boundary(object):
    """The failure boundary of one `fit*`/`evaluate*` call with capture on.

    # Arguments
        method: the call, for the warning (`'fit_generator'`).

    # Attributes
        failed: whether our code failed during this call (capture is then off).
    """

    def __init__(self, method):
        self.method = method
        self.failed = False

    def run(self, doing, function, *args, **kwargs):
        """`function(*args, **kwargs)`; on an unexpected exception (outside strict
        mode) warns once for this call, sets `failed` and returns `None`.

        # Raises
            ConfigurationError: Whatever the mode.
            Exception: Whatever `function` raised, in strict mode.
        """
        try:
            return function(*args, **kwargs)
        except ConfigurationError:
            raise
        except Exception:
            error = sys.exc_info()
        self.fail(doing, error)
        return None

    def fail(self, doing, error):
        """Our code failed with `error` (a `sys.exc_info()` triple): re-raises it in
        strict mode, else warns (the first time for this call) and sets `failed`."""
        if strict_mode():
            six.reraise(*error)
        if not self.failed:
            warnings.warn(
                'keras-getpredict failed while %s in `%s`; the call goes on as stock Keras, '
                'without the predictions (`val_loss` and metrics are unaffected), and '
                'capture stays off until it returns. Set %s=1 to raise instead.\n%s'
                % (doing, self.method, STRICT_ENV, ''.join(traceback.format_exception(*error))),
                CaptureFailedWarning, stacklevel=3)
        self.failed = True
