"""`EpochScalars`: the epoch bookkeeping of a callback that writes scalars into the logs.

Once per epoch, from whichever comes first of keras-getpredict's published hook (before
any callback's `on_epoch_end`, so `TensorBoard` or `ModelCheckpoint` anywhere in the list
see the scalars) and `on_epoch_end` (loops that fill the logs without our publisher). The
same keys every epoch: NaN where a value is undefined, so `CSVLogger` keeps its columns,
`ModelCheckpoint`'s `filepath` keeps formatting, and `fit_generator`'s reused logs dict
never shows an earlier epoch's numbers as this one's.
"""
from __future__ import absolute_import

import numpy as np

from ..core import keras_internals
from ..core.failures import (ConfigurationError, boundary_of, defined_by_us, safe_hooks,
                             theirs)
from ..core.results import LOGS_KEY


@safe_hooks
class EpochScalars(keras_internals.callback_base()):
    """Base class of the callbacks that write scalars into the epoch logs.

    Each hook (`on_*` method) of it and of its subclasses in keras-getpredict runs
    inside the callback's failure boundary (`core/failures.py`, `SafeHooks`).

    A subclass implements `log_epoch` (what to write this epoch) and, where it knows
    them before its first values, `expected_keys` (written as NaN until then).
    """

    def __init__(self):
        super(EpochScalars, self).__init__()
        self._logged = None
        self._written = []

    def log_epoch(self, epoch, logs):
        """The scalars to write for `epoch`, computed from `logs`: a dict of logs key to
        number, or `None` when this epoch has none (then NaN under the keys of the last
        epoch with values, or under `expected_keys()`)."""
        return None

    def expected_keys(self):
        """The keys this callback writes, when known before its first values."""
        return []

    def on_train_begin(self, logs=None):
        self._logged = None

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
        if defined_by_us(type(self), 'log_epoch'):
            # A failure of ours leaves NaN (see `core/failures.py`), never stale numbers.
            values = boundary_of(self).run('computing the scalars of epoch %d' % (epoch + 1),
                                           self.log_epoch, epoch, logs)
        else:  # a user's subclass: its errors are its own
            values = theirs(self.log_epoch, epoch, logs)
        if values is None:
            self._written = list(self._written or self.expected_keys())
            logs.update((k, np.float64(np.nan)) for k in self._written)
            return
        # Our own keys from the previous epoch are no clash.
        clash = [k for k in values if k in logs and k not in self._written]
        if clash:
            raise ConfigurationError(
                '%s would overwrite %s, already in the epoch logs (Keras 2.3 '
                "logs `compile(metrics=['accuracy'])` as `val_accuracy`). Pass "
                "another `prefix` (now %r), e.g. 'val_sk_', or compile with "
                "'acc'." % (type(self).__name__, clash, getattr(self, 'prefix', None)))
        logs.update((k, np.float64(v)) for k, v in values.items())
        self._written = list(values)
