"""The Keras families: everything keras-getpredict needs from a Keras, one interface.

```
Family (base.py): the interface, and what most Keras share
|-- Standalone (standalone.py): Keras 2.2.4
|   |-- Keras216: Keras 2.1.6
|   `-- Keras225: Keras 2.2.5
|       `-- Keras231: Keras 2.3.1 (+ GraphExecution)
`-- TfKeras115 (tf_keras.py): tf.keras of TensorFlow 1.15 (+ GraphExecution)
horovod_keras.py: Horovod's metric averaging, whatever the family
```

The caller resolves a family ONCE, from the model (`family_of`, per `fit*`/
`evaluate*` call) or from the stack (`for_stack`, at `install()`), and passes it
down: nothing below asks which Keras it runs in. Only this package tests the stack
(`sys.modules`, versions) and touches private Keras, TensorFlow or Horovod attributes;
`tests/gates/test_architecture.py` checks both from the source.

Adding a TensorFlow or Keras release: a subclass in `standalone.py` (or nothing, when
an existing family fits: add its version to that family's `versions`), one
constraints file and one matrix entry.
"""
from __future__ import absolute_import

import sys

from . import standalone as _standalone
from .base import (FORKED_STACKS, STACKS, STANDALONE, TF_KERAS, Family, int_shape,
                   keras_fit_validates, raw_op, run_checked, session_callable, tf_v1)
from .callback_base import callback_base, callback_face
from .messages import missing_message
from .horovod_keras import (HOROVOD_CALLBACKS_MODULE, HOROVOD_MODULE, horovod_if_active,
                            metric_average_callbacks, wrap_metric_average)
from .standalone import SUPPORTED_KERAS
from .wrappers import foreign_code, foreign_wrappers, keras_directories

__all__ = ['FORKED_STACKS', 'STACKS', 'STANDALONE', 'TF_KERAS', 'SUPPORTED_KERAS', 'Family',
           'family_of', 'for_stack', 'fork_stands_for', 'supported_family_of', 'model_classes',
           'unavailable', 'check_target', 'importable', 'found',
           'keras_fit_validates', 'raw_op', 'tf_v1', 'int_shape', 'missing_message',
           'run_checked',
           'session_callable', 'callback_base', 'callback_face', 'HOROVOD_MODULE',
           'HOROVOD_CALLBACKS_MODULE', 'horovod_if_active', 'metric_average_callbacks',
           'wrap_metric_average', 'foreign_code', 'foreign_wrappers', 'keras_directories']

_TF_KERAS_TRAINING = 'tensorflow.python.keras.engine.training'
#: The families made so far, by stack and version: a family keeps what it probed.
_MADE = {}


def _standalone_family():
    """The family of the imported standalone Keras, by `keras.__version__`.

    # Raises
        RuntimeError: In case that release is not supported, listing the supported ones.
    """
    import keras
    key = (STANDALONE, keras.__version__)
    if key not in _MADE:
        _MADE[key] = _standalone.for_version(keras.__version__)
    return _MADE[key]


def _tf_keras_family():
    """The family of TensorFlow's own tf.keras (its `unavailable()` says whether this
    TensorFlow's is supported)."""
    if TF_KERAS not in _MADE:
        from .tf_keras import TfKeras115  # not in the fork, which is standalone Keras
        _MADE[TF_KERAS] = TfKeras115()
    return _MADE[TF_KERAS]


def for_stack(stack):
    """The family of `stack` (`'keras'` or `'tf.keras'`).

    # Raises
        ValueError: In case `stack` is none of `STACKS`.
        RuntimeError: In case standalone Keras is not a supported release.
    """
    if stack == STANDALONE:
        return _standalone_family()
    if stack == TF_KERAS:
        return _tf_keras_family()
    raise ValueError(_target_message(stack))


def family_of(model):
    """The family `model` belongs to, from the model itself (never from a version
    string of the other stack): tf.keras for a `tensorflow.python.keras` model
    (tensorflow/python/keras/engine/training.py, `Model`, looked up without importing
    tf.keras), else standalone Keras'.

    # Raises
        RuntimeError: In case it is standalone Keras of a release not supported.
    """
    training = sys.modules.get(_TF_KERAS_TRAINING)
    if training is not None and isinstance(model, training.Model):
        return _tf_keras_family()
    return _standalone_family()


def model_classes(stack):
    """`stack`'s `Model` and `Sequential` classes (keras/engine/training.py and
    keras/models.py, or tf.keras'), whatever its release: what `install()` makes refuse
    `get_predict` on a stack it leaves (where each defines the methods itself:
    `Sequential` does on Keras 2.0 and 2.1)."""
    check_target(stack)
    if stack == STANDALONE:
        from keras import models
    else:
        from tensorflow.python.keras import models
    return models.Model, models.Sequential


def supported_family_of(model, user):
    """`family_of(model)`, checked to be supported here: what a callback asking for
    capture resolves once, at the start of training.

    # Raises
        RuntimeError: In case `model`'s Keras is not supported here (a stack
            `install()` left stock), starting with `user` and naming what was found
            and what is supported.
    """
    try:
        family = family_of(model)
    except RuntimeError as e:
        raise RuntimeError('%s: %s' % (user, e))
    family.require(user)
    return family


def fork_stands_for(stack):
    """Whether the keras-getpredict fork (`patches/`, Keras 2.2.4) can be `stack`."""
    return stack in FORKED_STACKS


def _module_present(name):
    """Whether module `name` is imported or can be, without importing it. Never
    raises: TensorFlow 1.14's lazily loaded module has `__spec__ = None`, on which
    `importlib.util.find_spec` raises `ValueError` once TensorFlow is imported."""
    import importlib.util
    if sys.modules.get(name) is not None:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):
        return False


def found():
    """What is installed, for messages: e.g. `'TensorFlow 1.14.0, Keras 2.2.4'`.
    Never raises."""
    parts = []
    for label, name in (('TensorFlow', 'tensorflow'), ('Keras', 'keras')):
        if not _module_present(name):
            continue
        try:
            module = __import__(name)
            parts.append('%s %s' % (label, getattr(module, '__version__', '?')))
        except Exception as e:  # a broken install: say what it raised
            parts.append('%s (import failed: %s)' % (label, e))
    return ', '.join(parts) or 'neither TensorFlow nor Keras'


def importable(stack):
    """Whether `stack`'s package is installed (`keras`; `tensorflow` for tf.keras),
    without importing it. Never raises."""
    return _module_present('keras' if stack == STANDALONE else 'tensorflow')


def unavailable(stack):
    """Why `stack` (`'keras'` or `'tf.keras'`) cannot be patched here, or `None` when
    it can: not importable, or not a release supported here. Never raises for a valid
    `stack`: what the probing raises becomes the reason.

    # Raises
        ValueError: In case `stack` is none of `STACKS`.
    """
    check_target(stack)
    name = 'standalone Keras' if stack == STANDALONE else 'tf.keras'
    try:
        if stack == STANDALONE:
            import keras  # noqa: F401 (its version picks the family)
        else:
            from tensorflow.python import keras  # noqa: F401,F811
    except Exception as e:  # ImportError, or whatever a broken install raises
        return '%s is not importable (%s)' % (name, e)
    try:
        return for_stack(stack).unavailable()
    except RuntimeError as e:
        return str(e)
    except Exception as e:
        return '%s could not be checked (%s: %s)' % (name, type(e).__name__, e)


def _target_message(target):
    return ('`target` should be %s or None (every supported stack); got %r.'
            % (' or '.join(repr(s) for s in STACKS), target))


def check_target(target):
    """Checks an `install(target=...)` value.

    # Raises
        ValueError: In case `target` is none of `None`, `'keras'`, `'tf.keras'`.
    """
    if target is not None and target not in STACKS:
        raise ValueError(_target_message(target))
