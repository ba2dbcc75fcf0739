"""`EpochScalars`: the epoch bookkeeping of a callback that writes scalars into the logs.

Once per epoch, from whichever comes first of keras-getpredict's published hook (before
any callback's `on_epoch_end`, so `TensorBoard` or `ModelCheckpoint` anywhere in the list
see the scalars) and `on_epoch_end` (loops that fill the logs without our publisher). The
same keys every epoch: NaN where a value is undefined, so `CSVLogger` keeps its columns,
`ModelCheckpoint`'s `filepath` keeps formatting, and `fit_generator`'s reused logs dict
never shows an earlier epoch's numbers as this one's. A key Keras logs too (from
`model.metrics_names`) is checked before training: where Keras logs the same quantity
(`same_as_keras`), Keras' value stays; any other is a conflict, raised at
`on_train_begin`, not after the first epoch.
"""
from __future__ import absolute_import

import numpy as np

from ..core import families
from ..core.failures import (ConfigurationError, boundary_of, defined_by_us, safe_hooks,
                             theirs)
from ..core.results import LOGS_KEY


def keras_logged_keys(model):
    """The epoch-logs keys Keras writes for `model`'s loss and metrics: each name of
    `model.metrics_names` as `(name, False)`, and its `val_` key as `(name, True)`."""
    logged = {}
    for name in getattr(model, 'metrics_names', None) or []:
        logged[name] = (name, False)
        logged['val_' + name] = (name, True)
    return logged


@safe_hooks
class EpochScalars(families.callback_base()):
    """Base class of the callbacks that write scalars into the epoch logs.

    Each hook (`on_*` method) of it and of its subclasses in keras-getpredict runs
    inside the callback's failure boundary (`core/failures.py`, `SafeHooks`).

    A subclass implements `log_epoch` (what to write this epoch) and, where it knows
    them before its first values, `expected_keys` (written as NaN until then);
    `keys_before_training` and `same_as_keras` say which of its keys Keras may log
    too, and whether Keras' value is the same quantity.

    # Attributes
        family: the Keras family of the model being trained (`core.families`), where a
            subclass resolved it at `on_train_begin` (capturing callbacks do), else
            `None`.
    """

    family = None

    def __init__(self):
        super(EpochScalars, self).__init__()
        self._logged = None
        self._written = []
        self._keras_keeps = set()

    def log_epoch(self, epoch, logs):
        """The scalars to write for `epoch`, computed from `logs`: a dict of logs key to
        number, or `None` when this epoch has none (then NaN under the keys of the last
        epoch with values, or under `expected_keys()`)."""
        return None

    def expected_keys(self):
        """The keys this callback writes, when known before its first values."""
        return []

    def keys_before_training(self):
        """The keys this callback may write, as far as they are known before training
        (`self.model` is set): checked against Keras' own at `on_train_begin`."""
        return self.expected_keys()

    def same_as_keras(self, key, metric):
        """Whether `key`, which Keras also logs for its metric `metric` (a name of
        `model.metrics_names`) on the validation data, is the same quantity as this
        callback's: then Keras' value stays and this callback leaves the key alone."""
        return False

    def on_train_begin(self, logs=None):
        self._logged = None
        self._keras_keeps = self._check_keras_keys()

    def _check_keras_keys(self):
        """The keys Keras logs with the same quantity (kept as Keras writes them).

        # Raises
            ConfigurationError: In case Keras logs another quantity under one of this
                callback's keys (a `ValueError`).
        """
        logged = keras_logged_keys(getattr(self, 'model', None))
        keeps, clash = set(), []
        for key in self.keys_before_training() if logged else ():
            if key not in logged:
                continue
            metric, validation = logged[key]
            if validation and self.same_as_keras(key, metric):
                keeps.add(key)
            else:
                clash.append(key)
        if clash:
            raise ConfigurationError(
                '%s would write %s, which Keras logs for the model\'s own loss or metrics '
                '(`model.metrics_names`: %s), another quantity. Pass another `prefix` (now '
                "%r), e.g. 'val_sk_'." % (type(self).__name__, clash,
                                          list(self.model.metrics_names),
                                          getattr(self, 'prefix', None)))
        return keeps

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
        if values is not None and self._keras_keeps:
            # Keras logs the same quantity under these keys: its value stays.
            values = type(values)((k, v) for k, v in values.items()
                                  if k not in self._keras_keeps)
        if values is None:
            self._written = list(self._written or self.expected_keys())
            logs.update((k, np.float64(np.nan)) for k in self._written)
            return
        # Our own keys from the previous epoch are no clash.
        clash = [k for k in values if k in logs and k not in self._written]
        if clash:
            raise ConfigurationError(
                '%s would overwrite %s, already in the epoch logs (put there by another '
                "callback). Pass another `prefix` (now %r), e.g. 'val_sk_'."
                % (type(self).__name__, clash, getattr(self, 'prefix', None)))
        logs.update((k, np.float64(v)) for k, v in values.items())
        self._written = list(values)
