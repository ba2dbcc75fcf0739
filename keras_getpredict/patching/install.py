"""The one list of patches, and `install()` / `uninstall()` / `is_installed()` / `patched()`."""
from __future__ import absolute_import

import contextlib
import threading
import warnings

from .native import is_native


_lock = threading.RLock()
_originals = {}  # (owner, name) -> the exact object found in owner.__dict__
_replacements = {}  # (owner, name) -> what install() put there


def _check_versions():
    import keras
    from keras import backend as K
    from ..core import keras_internals
    keras_internals.adapter_for(keras.__version__)  # raises, naming the supported ones
    if K.backend() != 'tensorflow':
        raise RuntimeError('keras_getpredict needs the TensorFlow backend; '
                           'the Keras backend is %r. Set KERAS_BACKEND=tensorflow.'
                           % K.backend())


def _check_no_foreign_get_predict():
    """A Keras hand-edited to take `get_predict` (by copying a recipe into
    site-packages) has its own, different implementation; wrapping it would give two
    arguments of one name. Say so instead of failing somewhere inside the patching."""
    import inspect
    from keras.engine import training
    for name in ('fit', 'fit_generator', 'evaluate', 'evaluate_generator'):
        method = vars(training.Model)[name]
        method = getattr(method, '__wrapped__', method)
        try:
            parameters = inspect.signature(method).parameters
        except (TypeError, ValueError):  # a wrapper object: the next check names it
            continue
        if 'get_predict' in parameters:
            raise RuntimeError(
                'This Keras already takes `get_predict` in `Model.%s` (%s), but it is '
                'not the keras-getpredict fork: a hand-edited Keras? Reinstall stock '
                'Keras to use keras_getpredict.install(), or install the fork '
                'built from `patches/`.' % (name, inspect.getsourcefile(method)))


def _check_no_foreign_wrapper(patches):
    """A training method someone wrapped before `install()` (a user's own patch, another
    library's) is no Keras we lack internals of: say what was found and what to do."""
    from ..core import keras_internals
    found = keras_internals.foreign_wrappers(
        [(owner, name) for owner, name, _ in patches
         if name in ('fit', 'fit_generator', 'evaluate', 'evaluate_generator')])
    if found:
        raise RuntimeError(
            'keras_getpredict.install() found %s wrapped by code that is not Keras\' own: '
            '%s. keras-getpredict replaces these methods with its own, so it must come '
            'first: call keras_getpredict.install() before that wrapper is applied (the '
            'wrapper then wraps keras-getpredict\'s method and keeps working), or remove '
            'the wrapper.' % (
                ', '.join('`%s.%s`' % (owner.__name__, name) for owner, name, _ in found),
                '; '.join('`%s.%s` by `%s` (%s)' % ((owner.__name__, name) + code)
                          for owner, name, code in found)))


def _patch_list():
    """Every patch, as `(owner, attribute name, factory(original) -> replacement)`."""
    from ..core import keras_internals
    from . import callback_patches, methods

    owners = keras_internals.patch_owners()
    Model, callbacks = owners['model'], owners['callbacks']
    fit_loop_owner, fit_loop_name = owners['fit_loop']
    tensorboard, tensorboard_method = owners['tensorboard']
    legacy_generator_method = keras_internals.legacy_generator_method
    model_patches = []
    # `Model`, then the classes that forward these methods to an inner model (Keras
    # 2.1's `Sequential`): the outer call takes `get_predict`, the inner one captures.
    for owner in (Model,) + tuple(owners['forwarding_models']):
        model_patches += [
            (owner, 'fit', methods.make_fit),
            (owner, 'fit_generator', legacy_generator_method(methods.make_fit_generator)),
            (owner, 'evaluate', methods.make_evaluate),
            (owner, 'evaluate_generator',
             legacy_generator_method(methods.make_evaluate_generator)),
        ]
    return model_patches + [
        (fit_loop_owner, fit_loop_name, methods.make_fit_loop),
        (callbacks.History, 'on_epoch_end', callback_patches.make_history_on_epoch_end),
        (callbacks.CSVLogger, 'on_epoch_end', callback_patches.make_logs_filter),
        (callbacks.RemoteMonitor, 'on_epoch_end', callback_patches.make_logs_filter),
        (tensorboard, tensorboard_method,
         callback_patches.TENSORBOARD_LOGS_WRITERS[tensorboard_method]),
    ]


def install():
    """Adds `get_predict` to Keras' training and evaluation methods.

    Patches `Model.fit`, `fit_generator`, `evaluate` and `evaluate_generator`, and
    teaches `History`, `CSVLogger`, `RemoteMonitor` and `TensorBoard` to step over
    the predictions entry. Calling it again does nothing.

    On the Keras fork built from `patches/` (`is_native()`), `get_predict` is
    part of Keras already: nothing is patched, and code that calls `install()`
    runs unchanged on both forms.

    # Raises
        RuntimeError: In case Keras is not a supported version (2.1.6, 2.2.4,
            2.2.5, 2.3.1), its backend not TensorFlow, a
            private attribute listed in `keras_getpredict.core.keras_internals` is
            missing (each one is named), or Keras takes a `get_predict` of its own
            (a hand-edited Keras).
    """
    with _lock:
        if _originals:
            return
        _check_versions()
        from ..core import keras_internals
        if not is_native():
            # Before the internals check, which would blame the Keras version for them.
            _check_no_foreign_get_predict()
            _check_no_foreign_wrapper(_patch_list())
        keras_internals.check()
        if is_native():
            # Wrapping the fork's own get_predict in ours would run both.
            return
        patches = _patch_list()
        try:
            for owner, name, factory in patches:
                original = vars(owner)[name]
                replacement = factory(original)
                replacement._keras_getpredict_original = original
                _originals[(owner, name)] = original
                _replacements[(owner, name)] = replacement
                setattr(owner, name, replacement)
        except Exception:
            uninstall()
            raise


def uninstall():
    """Restores the exact original objects. Safe to call when nothing is installed.

    On the Keras fork there is nothing to restore: `get_predict` stays. A method that
    something wrapped again after `install()` is restored all the same (Keras is then
    stock), with a warning naming the wrapper that goes with it.
    """
    with _lock:
        for (owner, name), original in list(_originals.items()):
            current = vars(owner).get(name)
            if current is not _replacements.pop((owner, name), None):
                warnings.warn(
                    '`%s.%s` was wrapped again after keras_getpredict.install() (now %r); '
                    'uninstall() restores Keras\' own method, so that wrapper is removed '
                    'too. Wrap again after uninstall() to keep it.'
                    % (owner.__name__, name, current))
            setattr(owner, name, original)
            del _originals[(owner, name)]


def is_installed():
    """Returns whether `get_predict` is available: `install()` is in effect, or the
    imported Keras is the fork with `get_predict` built in (`is_native()`)."""
    return bool(_originals) or is_native()


@contextlib.contextmanager
def patched():
    """Context manager: installed inside the block, as it was found afterwards.

    # Example
    ```python
    with keras_getpredict.patched():
        metrics, preds = model.evaluate_generator(gen, steps, get_predict=True)
    ```
    """
    was_installed = is_installed()
    install()
    try:
        yield
    finally:
        if not was_installed:
            uninstall()
