"""The failure boundary around keras-getpredict's own code in a user's run: one policy.

A bug of ours must not cost a night of training. So, as MLflow's `safe_patch` does, errors
are sorted by where they come from, not by their type:

- **Configuration errors raise at once**, as a `ConfigurationError` (a `ValueError`; a
  `ConfigurationTypeError`, also a `TypeError`, for an argument of the wrong type):
  a malformed `get_predict`, requests that do not merge, no validation data, a callback's
  arguments, and, during the run, a selection that does not fit the model's outputs, the
  data, or the other Horovod ranks.
- **Errors of the original Keras call and of the user's code propagate unchanged**: a
  layer or a generator that fails, a user callback that raises. Where our code calls
  theirs, it does so through `theirs(...)`, so whatever they raise passes every boundary.
- **Any other exception inside our own code**, whatever its type (`ValueError` and
  `TypeError` included), is ours. In the capture (working out what to capture, building
  the capturing function, recording a batch, publishing an epoch, gathering or summing
  across ranks, the callbacks the capture adds) a `Boundary` warns once per call with the
  traceback (a `CaptureFailedWarning`, naming the user's call) and falls back to stock
  behaviour: the epoch keeps Keras' own `val_loss` and metrics without the predictions
  entry, an evaluation returns its stock result with `None` for the predictions, and
  capture stays off for the rest of that call. In our analysis callbacks a
  `FailurePolicy` warns once per callback (an `AnalysisFailedWarning`) and training goes
  on.
- **Every hook of the callbacks we add runs inside the boundary**: `SafeHooks`, the
  metaclass of `Publisher`, `Armer` and our analysis callbacks, wraps each of their
  `on_*` methods (MLflow's `ExceptionSafeClass`), so no method of theirs can end a run.
- **`KERAS_GETPREDICT_STRICT=1`** makes our own errors raise instead (the test suite sets it).
"""
from __future__ import absolute_import

import functools
import inspect
import os
import sys
import traceback
import warnings

import six

from . import calls

#: Environment variable that makes our own unexpected errors raise; read at each failure.
STRICT_ENV = 'KERAS_GETPREDICT_STRICT'

# Set on an exception that must cross every boundary unchanged (raised by user or
# Keras code that ours called through `theirs`, or by a check of the configuration).
_PASSES = '_keras_getpredict_passes'


def strict_mode():
    """Whether `KERAS_GETPREDICT_STRICT` is set to something other than empty, `0`,
    `false`, `no` or `off`."""
    value = os.environ.get(STRICT_ENV, '').strip().lower()
    return value not in ('', '0', 'false', 'no', 'off')


class ConfigurationError(ValueError):
    """What the user asked for is malformed, or does not fit the model, the data or the
    other ranks.

    Raised whatever the failure policy; a `ValueError`, as Keras raises for arguments
    that do not fit.
    """


class ConfigurationTypeError(ConfigurationError, TypeError):
    """An argument of the wrong type: a `ConfigurationError` that is also a
    `TypeError`, as Keras raises for it."""


def configuration_error(error):
    """`error` (a `ValueError` or `TypeError` of a check of user input) as a
    `ConfigurationError` with the same message and the same user-visible type."""
    if isinstance(error, ConfigurationError):
        return error
    kind = ConfigurationTypeError if isinstance(error, TypeError) else ConfigurationError
    return kind(*error.args)


def checked(check, *args, **kwargs):
    """`check(*args, **kwargs)`, a check of the user's configuration that raises a plain
    `ValueError`/`TypeError` when it does not hold (a Keras adapter's, a callback's
    `validate`): those raise as `configuration_error` makes them."""
    try:
        return check(*args, **kwargs)
    except (TypeError, ValueError) as e:
        error = configuration_error(e)
        if error is e:
            raise
        raise error.with_traceback(e.__traceback__) from None


def passes(error):
    """Whether `error` crosses the boundary unchanged: a configuration error, or an
    error of user or Keras code (see `theirs`)."""
    return isinstance(error, ConfigurationError) or getattr(error, _PASSES, False)


def theirs(function, *args, **kwargs):
    """`function(*args, **kwargs)`, where `function` is not ours: user code (a callback's
    `on_predictions_published`, an `on_batch` function), Keras, or a check of the
    configuration the user gave. Whatever it raises crosses every boundary unchanged.
    """
    try:
        return function(*args, **kwargs)
    except Exception as e:
        try:
            setattr(e, _PASSES, True)
        except Exception:  # an exception type that takes no attributes
            pass
        raise


class CaptureFailedWarning(RuntimeWarning):
    """keras-getpredict's own capture failed during a call; the call went on as stock
    Keras, without the predictions."""


class AnalysisFailedWarning(RuntimeWarning):
    """A callback's analysis failed during training; training went on without it."""


class _Guard(object):
    """Runs our own code: what it raises passes (`passes`), raises in strict mode, or
    is reported by `report` (in subclasses)."""

    def run(self, doing, function, *args, **kwargs):
        """`function(*args, **kwargs)`, or `None` when it raised an error of ours
        outside strict mode (after `fail`).

        # Arguments
            doing: what the call does, for the warning (`'saving epoch 3'`).
            function: our own code.

        # Raises
            ConfigurationError: Whatever the mode; so does an error of user or Keras
                code called through `theirs`.
            Exception: Whatever `function` raised, in strict mode.
        """
        try:
            return function(*args, **kwargs)
        except Exception as e:
            if passes(e):
                raise
            error = sys.exc_info()
        self.fail(doing, error)
        return None

    def fail(self, doing, error):
        """Our code failed with `error` (a `sys.exc_info()` triple): re-raises it in
        strict mode, else reports it."""
        if strict_mode():
            six.reraise(*error)
        self.report(doing, error)

    def report(self, doing, error):
        raise NotImplementedError


class Boundary(_Guard):
    """The failure boundary of one `fit*`/`evaluate*` call with capture on.

    # Arguments
        method: the call, for the warning; by default the running `fit*`/`evaluate*`
            call as the user wrote it (`'evaluate_generator'`, see `calls.running_call`).

    # Attributes
        failed: whether our code failed during this call (capture is then off).
    """

    def __init__(self, method=None):
        self.method = calls.running_call() or method or 'fit'
        self.failed = False

    def report(self, doing, error):
        """Warns the first time for this call and sets `failed`."""
        if not self.failed:
            warnings.warn(
                'keras-getpredict failed while %s in `%s`; the call goes on as stock Keras, '
                'without the predictions (`val_loss` and metrics are unaffected), and '
                'capture stays off until it returns. Set %s=1 to raise instead.\n%s'
                % (doing, self.method, STRICT_ENV, ''.join(traceback.format_exception(*error))),
                CaptureFailedWarning, stacklevel=4)
        self.failed = True


class FailurePolicy(_Guard):
    """The boundary of one analysis callback: warns once per callback.

    # Arguments
        owner: the name the warning gives the callback, e.g. `'EpochMetrics'`.

    # Attributes
        failures: how many calls failed so far (each warned about or not).
    """

    def __init__(self, owner):
        self.owner = owner
        self.failures = 0

    def report(self, doing, error):
        self.failures += 1
        if self.failures == 1:
            warnings.warn(
                '%s failed while %s; training goes on without it for this epoch. '
                'Later failures of this callback are not reported. Set %s=1 to raise '
                'instead.\n%s' % (self.owner, doing, STRICT_ENV,
                                  ''.join(traceback.format_exception(*error))),
                AnalysisFailedWarning, stacklevel=4)


#: The attribute holding the boundary of an instance of a `SafeHooks` class.
BOUNDARY_ATTRIBUTE = 'failure_boundary'

# The packages whose classes' hooks `SafeHooks` wraps: ours (also as the fork vendors
# this module, `keras.getpredict`), never a user's subclass of our callbacks.
_OUR_PACKAGES = ('keras_getpredict', __name__.rpartition('.')[0])


def _ours(module):
    return any(module == p or (module or '').startswith(p + '.') for p in _OUR_PACKAGES)


def defined_by_us(cls, name):
    """Whether the attribute `name` of `cls` comes from a class of ours (not from a
    user's subclass that overrides it)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return _ours(klass.__module__)
    return False


def boundary_of(instance):
    """The boundary of `instance`'s hooks: its `failure_boundary`, made (a
    `FailurePolicy` named after its class) when it has none yet."""
    boundary = getattr(instance, BOUNDARY_ATTRIBUTE, None)
    if boundary is None:
        boundary = FailurePolicy(type(instance).__name__)
        setattr(instance, BOUNDARY_ATTRIBUTE, boundary)
    return boundary


def in_boundary(hook):
    """`hook` (a callback method) run inside its instance's boundary (`boundary_of`)."""
    @functools.wraps(hook)
    def safe_hook(self, *args, **kwargs):
        return boundary_of(self).run('running %s.%s' % (type(self).__name__, hook.__name__),
                                     hook, self, *args, **kwargs)
    safe_hook.in_boundary = True
    return safe_hook


def is_hook(name):
    """Whether a method called `name` is a callback hook (`on_epoch_end`, ...)."""
    return name.startswith('on_')


class SafeHooks(type):
    """Metaclass of the callbacks we add to a user's run (MLflow's `ExceptionSafeClass`):
    every hook (`on_*` method) defined in a class of ours runs inside the instance's
    boundary, so no method of theirs can end a run. A user's subclass keeps its own
    methods as written; the ones it inherits from ours stay wrapped."""

    def __new__(mcs, name, bases, namespace):
        if _ours(namespace.get('__module__')):
            namespace = dict(namespace)
            for key, value in list(namespace.items()):
                if is_hook(key) and inspect.isfunction(value):
                    namespace[key] = in_boundary(value)
        return super(SafeHooks, mcs).__new__(mcs, name, bases, namespace)


#: Class decorator giving a callback class the `SafeHooks` metaclass.
safe_hooks = six.add_metaclass(SafeHooks)
