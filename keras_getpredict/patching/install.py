"""The one list of patches, and `install()` / `uninstall()` / `is_installed()` / `patched()`.

`install()` resolves the Keras family of each stack once (`core.families.for_stack`)
and hands it to every replacement it makes: the patched methods never ask again.

`is_native()` detects a Keras that has `get_predict` built in: the fork built from
`patches/`. There, `fit`, `fit_generator`, `evaluate` and `evaluate_generator` already
take `get_predict` and Keras' callbacks already step over the predictions entry, so
`install()` must not wrap them a second time.
"""
from __future__ import absolute_import

import contextlib
import functools
import threading
import warnings

_lock = threading.RLock()
_originals = {}  # (owner, name) -> the exact object found in owner.__dict__
_replacements = {}  # (owner, name) -> what install() put there
_installed = {}  # stack -> [(owner, name)] patched for it
_refused = {}  # stack -> [(owner, name)] of a stack left stock, refusing `get_predict`


def native_version():
    """Returns the fork's version (e.g. `'2.2.4+getpredict.1'`), or `None` for stock Keras.

    # Returns
        The string `keras.getpredict.FORK_VERSION` of the forked Keras, or `None`
        when the imported Keras has no native `get_predict`.
    """
    try:
        from keras import getpredict
    except ImportError:
        return None
    return getattr(getpredict, 'FORK_VERSION', None)


def is_native():
    """Returns whether the imported Keras has `get_predict` built in (the fork)."""
    return native_version() is not None


def _stacks(target):
    """The stacks `install(target)` patches, each checked to be supported here, and
    `{stack: reason}` of the importable ones it leaves (`target=None` only). Never
    raises from its probing: what a probe raises becomes a reason.

    # Raises
        ValueError: In case `target` is none of `None`, `'keras'`, `'tf.keras'`.
        RuntimeError: In case `target` is not supported here, or (with `target=None`)
            no importable stack is.
    """
    from ..core import families
    if target is not None:
        reason = families.unavailable(target)  # ValueError for another target
        if reason is not None:
            raise RuntimeError(reason)
        return [target], {}
    stacks, left = [], {}
    for stack in families.STACKS:
        if not families.importable(stack):
            continue
        reason = families.unavailable(stack)
        if reason is None:
            stacks.append(stack)
        else:
            left[stack] = reason
    if not stacks:
        raise RuntimeError('keras_getpredict.install() found no Keras it supports (found %s)%s'
                           % (families.found(), ': ' + ' '.join(left.values()) if left
                              else ': install Keras 2.2.4 and TensorFlow 1.15, say.'))
    return stacks, left


def _left_message(left):
    """The one line `install()` warns with about the importable stacks it left."""
    from ..core import families
    return ('keras_getpredict.install() left %s stock (found %s): %s `get_predict` on '
            'it raises.' % (' and '.join(left), families.found(), ' '.join(left.values())))


def _check_no_foreign_get_predict(stack):
    """A Keras hand-edited to take `get_predict` (by copying a recipe into
    site-packages) has its own, different implementation; wrapping it would give two
    arguments of one name. Say so instead of failing somewhere inside the patching."""
    import inspect
    from ..core import families
    model = families.for_stack(stack).patch_owners()['model']
    for name in ('fit', 'fit_generator', 'evaluate', 'evaluate_generator'):
        method = vars(model)[name]
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
    from ..core import families
    found = families.foreign_wrappers(
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


def _patch_list(stack):
    """Every patch of `stack`, as `(owner, attribute name, factory(original) ->
    replacement)`; the replacements of the model methods take the stack's family."""
    from ..core import families
    from . import callback_patches, methods

    family = families.for_stack(stack)

    def model_method(make):
        return functools.partial(make, family=family)

    owners = family.patch_owners()
    Model, callbacks = owners['model'], owners['callbacks']
    tensorboard, tensorboard_method = owners['tensorboard']
    filters = [
        (callbacks.History, 'on_epoch_end', callback_patches.make_history_on_epoch_end),
        (callbacks.CSVLogger, 'on_epoch_end', callback_patches.make_logs_filter),
        (callbacks.RemoteMonitor, 'on_epoch_end', callback_patches.make_logs_filter),
        (tensorboard, tensorboard_method,
         callback_patches.TENSORBOARD_LOGS_WRITERS[tensorboard_method]),
    ]
    if family.fit_captures_by_window:
        # Both fit methods validate through `model.test_function`: one window each;
        # no legacy-argument decorator; `Sequential` inherits.
        builder_owner, builder_name = owners['test_function_builder']
        return [
            (Model, 'fit', model_method(methods.make_window_fit)),
            (Model, 'fit_generator', model_method(methods.make_fit_generator)),
            (Model, 'evaluate', model_method(methods.make_evaluate)),
            (Model, 'evaluate_generator', model_method(methods.make_evaluate_generator)),
            (builder_owner, builder_name, model_method(methods.make_make_test_function)),
            owners['tensorboard_v2'] + (callback_patches.make_tensorboard_log_metrics,),
        ] + filters
    fit_loop_owner, fit_loop_name = owners['fit_loop']
    generator_method = family.generator_method
    model_patches = []
    # `Model`, then the classes that forward these methods to an inner model (Keras
    # 2.1's `Sequential`): the outer call takes `get_predict`, the inner one captures.
    for owner in (Model,) + tuple(owners['forwarding_models']):
        model_patches += [
            (owner, 'fit', model_method(methods.make_fit)),
            (owner, 'fit_generator', generator_method(model_method(methods.make_fit_generator))),
            (owner, 'evaluate', model_method(methods.make_evaluate)),
            (owner, 'evaluate_generator',
             generator_method(model_method(methods.make_evaluate_generator))),
        ]
    return model_patches + [(fit_loop_owner, fit_loop_name,
                             model_method(methods.make_fit_loop))] + filters


def _refusal_list(stack, reason):
    """The patches of a stack `install()` leaves: its four model methods, where its
    `Model` and `Sequential` define them, raise `reason` at the start of a call that asks
    for capture, and run untouched otherwise."""
    from ..core import families
    from . import methods
    make = functools.partial(methods.make_refusal, reason=reason)
    return [(owner, name, make) for owner in families.model_classes(stack)
            for name in ('fit', 'fit_generator', 'evaluate', 'evaluate_generator')
            if name in vars(owner)]


def _apply(patches, into):
    """Applies `(owner, name, factory)` patches, recording each in `into`."""
    for owner, name, factory in patches:
        original = vars(owner)[name]
        replacement = factory(original)
        replacement._keras_getpredict_original = original
        _originals[(owner, name)] = original
        _replacements[(owner, name)] = replacement
        setattr(owner, name, replacement)
        into.append((owner, name))


def install(target=None):
    """Adds `get_predict` to Keras' training and evaluation methods.

    Patches `Model.fit`, `fit_generator`, `evaluate` and `evaluate_generator`, and
    teaches `History`, `CSVLogger`, `RemoteMonitor` and `TensorBoard` to step over
    the predictions entry, in standalone Keras and in TensorFlow 1.15's own tf.keras
    (graph mode). Calling it again does nothing.

    On the Keras fork built from `patches/` (`is_native()`), `get_predict` is
    part of Keras already: nothing is patched there, and code that calls
    `install()` runs unchanged on both forms.

    # Arguments
        target: `None` (default) patches every importable stack it supports:
            standalone Keras 2.1.6, 2.2.4, 2.2.5 or 2.3.1 on the TensorFlow backend
            (`keras`) and the tf.keras of TensorFlow 1.15 (`tensorflow.keras`). An
            importable stack it does not support is left stock, said in one warning
            line (what was found, what is supported); a call on it that asks for
            `get_predict` raises that reason at its start. `'keras'` or
            `'tf.keras'` patches that stack only.

    # Raises
        ValueError: In case `target` is none of `None`, `'keras'`, `'tf.keras'`.
        RuntimeError: In case `target` is not supported here (Keras not a supported
            version, its backend not TensorFlow, TensorFlow's tf.keras not 1.15's or
            in TF 2 behaviour), no importable stack is supported (`target=None`), a
            private attribute listed in `keras_getpredict.core.families` is missing
            (each one is named), or Keras takes a `get_predict` of its own (a
            hand-edited Keras).
    """
    from ..core import families
    with _lock:
        chosen, left = _stacks(target)
        stacks = [stack for stack in chosen if stack not in _installed]
        left = dict((stack, reason) for stack, reason in left.items()
                    if stack not in _refused)
        # Every stack is checked before any is patched: a failure patches nothing.
        for stack in stacks:
            native = families.fork_stands_for(stack) and is_native()
            if not native:
                # Before the internals check, which would blame the Keras version.
                _check_no_foreign_get_predict(stack)
                _check_no_foreign_wrapper(_patch_list(stack))
            families.for_stack(stack).check()
        try:
            for stack in stacks:
                # A stack refused before (its version was not supported then) is
                # patched from its own methods.
                _restore(_refused.pop(stack, []))
                if families.fork_stands_for(stack) and is_native():
                    continue  # wrapping the fork's own get_predict in ours would run both
                _apply(_patch_list(stack), _installed.setdefault(stack, []))
        except Exception:
            for stack in stacks:
                uninstall(stack)
            raise
        if left:
            warnings.warn(_left_message(left))
            for stack, reason in left.items():
                try:
                    refusals = _refusal_list(stack, reason)
                except Exception:  # its Model is not even importable: nothing to refuse
                    continue
                _apply(refusals, _refused.setdefault(stack, []))


def uninstall(target=None):
    """Restores the exact original objects of `target` (`'keras'`, `'tf.keras'`, or
    `None` for both). Safe to call when nothing is installed.

    On the Keras fork there is nothing to restore: `get_predict` stays. A method that
    something wrapped again after `install()` is restored all the same (Keras is then
    stock), with a warning naming the wrapper that goes with it.

    # Raises
        ValueError: In case `target` is none of `None`, `'keras'`, `'tf.keras'`.
    """
    from ..core import families
    families.check_target(target)
    with _lock:
        stacks = set(_installed) | set(_refused) if target is None else [target]
        for stack in stacks:
            _restore(_installed.pop(stack, []) + _refused.pop(stack, []))


def _restore(patched):
    """Puts back the originals of `patched` (`(owner, name)` pairs `_apply` recorded)."""
    for owner, name in patched:
        original = _originals.pop((owner, name))
        current = vars(owner).get(name)
        if current is not _replacements.pop((owner, name), None):
            warnings.warn(
                '`%s.%s` was wrapped again after keras_getpredict.install() (now '
                '%r); uninstall() restores Keras\' own method, so that wrapper is '
                'removed too. Wrap again after uninstall() to keep it.'
                % (owner.__name__, name, current))
        setattr(owner, name, original)


def is_installed(target=None):
    """Returns whether `get_predict` is available: `install()` is in effect for
    `target` (`None`: for any stack), or standalone Keras is the fork with
    `get_predict` built in (`is_native()`).

    # Raises
        ValueError: In case `target` is none of `None`, `'keras'`, `'tf.keras'`.
    """
    from ..core import families
    families.check_target(target)
    if target is not None and not families.fork_stands_for(target):
        return target in _installed
    return (bool(_installed) if target is None else target in _installed) or is_native()


@contextlib.contextmanager
def patched(target=None):
    """Context manager: installed inside the block (`install(target)`), as it was
    found afterwards.

    # Example
    ```python
    with keras_getpredict.patched():
        metrics, preds = model.evaluate_generator(gen, steps, get_predict=True)
    ```
    """
    was_installed = is_installed(target)
    install(target)
    try:
        yield
    finally:
        if not was_installed:
            uninstall(target)
