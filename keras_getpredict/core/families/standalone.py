"""Standalone Keras (`keras`) on the TensorFlow backend: one implementation, with a
small subclass per release that differs (2.1.6, 2.2.5, 2.3.1; 2.2.4 is the base).

Each method names, in one line, the Keras file and function it relies on.
"""
from __future__ import absolute_import

from .base import STANDALONE, Family, GraphExecution


def _takes(function, parameter):
    import inspect
    try:
        return parameter in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


class Standalone(Family):
    """Keras 2.2.4: keras/engine/training.py calls keras/engine/training_arrays.py's
    `fit_loop(model, f, ins, ..., val_f=...)`; keras/callbacks.py's
    `TensorBoard._write_logs` writes the epoch logs; keras/backend/tensorflow_backend.py's
    `Function` caches a session callable (`_make_callable`)."""

    stack = STANDALONE
    versions = ('2.2.4',)
    validation_argument = 'val_f'

    def backend(self):
        from keras import backend as K
        return K

    def is_tensor(self, value):
        """keras/backend/tensorflow_backend.py, `is_tensor`."""
        return self.backend().is_tensor(value)

    def unavailable(self):
        """keras/backend/__init__.py, `backend()`: the TensorFlow backend only."""
        K = self.backend()
        if K.backend() != 'tensorflow':
            return ('keras_getpredict needs the TensorFlow backend; the Keras backend is '
                    '%r. Set KERAS_BACKEND=tensorflow.' % K.backend())
        return None

    # ------------------------------------------------------------- patching

    def fit_loop(self):
        """keras/engine/training_arrays.py, `fit_loop` (called by `Model.fit`)."""
        from keras.engine import training_arrays
        return training_arrays, 'fit_loop'

    def fit_loop_reached(self):
        """Whether `Model.fit` looks the loop up through its owner at call time."""
        from keras.engine import training, training_arrays
        return (getattr(training, 'training_arrays', None) is training_arrays and
                callable(vars(training_arrays).get('fit_loop')))

    def tensorboard(self):
        """keras/callbacks.py, `TensorBoard._write_logs`."""
        from keras import callbacks
        return callbacks.TensorBoard, '_write_logs'

    def forwarding_models(self):
        """keras/engine/sequential.py: `Sequential` inherits `Model`'s methods."""
        return ()

    def patch_owners(self):
        from keras import callbacks
        from keras.engine import training
        return {'model': training.Model, 'forwarding_models': self.forwarding_models(),
                'fit_loop': self.fit_loop(), 'callbacks': callbacks,
                'tensorboard': self.tensorboard()}

    def generator_method(self, make):
        """For `fit_generator`/`evaluate_generator`, which carry Keras' legacy-argument
        decorator: wraps the function inside it and decorates again, so Keras 1
        argument names are converted before the replacement sees them.

        keras/legacy/interfaces.py, `legacy_generator_methods_support`.
        """
        from keras.legacy import interfaces
        return lambda original: interfaces.legacy_generator_methods_support(
            make(original.__wrapped__))

    # --------------------------------------------------------------- checks

    def own_internals(self):
        """`(name, present)` pairs of what only this release relies on."""
        return []

    def internals(self):
        from keras.engine import training
        from keras.legacy import interfaces

        owners = self.patch_owners()
        fit_loop_owner, fit_loop_name = owners['fit_loop']
        loop = getattr(fit_loop_owner, '__name__', fit_loop_owner)
        tensorboard, tensorboard_method = owners['tensorboard']
        required = self.function_internals() + [
            ('keras.engine.training.Model._make_test_function',
             lambda: hasattr(training.Model, '_make_test_function')),
            ('keras.engine.training.Model._make_train_function',
             lambda: hasattr(training.Model, '_make_train_function')),
            ('%s.%s (looked up by Model.fit at call time)' % (loop, fit_loop_name),
             self.fit_loop_reached),
            ('%s.%s parameter `%s`' % (loop, fit_loop_name, self.validation_argument),
             lambda: _takes(vars(fit_loop_owner).get(fit_loop_name),
                            self.validation_argument)),
            ('keras.legacy.interfaces.legacy_generator_methods_support',
             lambda: hasattr(interfaces, 'legacy_generator_methods_support')),
            ('keras.engine.training.Model.fit_generator.__wrapped__',
             lambda: hasattr(vars(training.Model)['fit_generator'], '__wrapped__')),
            ('keras.engine.training.Model.evaluate_generator.__wrapped__',
             lambda: hasattr(vars(training.Model)['evaluate_generator'], '__wrapped__')),
            ('keras.callbacks.TensorBoard.' + tensorboard_method,
             lambda: tensorboard_method in vars(tensorboard)),
        ] + self.own_internals()
        for forwarding in owners['forwarding_models']:
            name = '%s.%s.' % (forwarding.__module__, forwarding.__name__)
            for method in ('fit', 'evaluate', 'fit_generator', 'evaluate_generator'):
                required.append((name + method,
                                 lambda forwarding=forwarding, method=method:
                                 callable(vars(forwarding).get(method))))
            for method in ('fit_generator', 'evaluate_generator'):
                required.append((name + method + '.__wrapped__',
                                 lambda forwarding=forwarding, method=method:
                                 hasattr(vars(forwarding).get(method), '__wrapped__')))
        return required


class Keras225(Standalone):
    """Keras 2.2.5: as 2.2.4, but `fit_loop`'s validation function is `val_function`
    (and `evaluate`/`evaluate_generator` take `callbacks`, passed through untouched)."""

    versions = ('2.2.5',)
    validation_argument = 'val_function'

    def fit_hands_to_fit_generator(self, x):
        """keras/engine/training.py, `Model.fit`: "Case 1: generator-like" calls
        `self.fit_generator` for what `training_utils.is_generator_or_sequence` accepts."""
        from keras.engine import training_utils
        return training_utils.is_generator_or_sequence(x)

    def own_internals(self):
        from keras.engine import training_utils
        return [('keras.engine.training_utils.is_generator_or_sequence',
                 lambda: hasattr(training_utils, 'is_generator_or_sequence'))]


class Keras216(Standalone):
    """Keras 2.1.6: one keras/engine/training.py, whose `Model._fit_loop(self, f, ins,
    ..., val_f=...)` method `fit` calls; keras/callbacks.py's `TensorBoard.on_epoch_end`
    writes the epoch logs itself; keras/backend/tensorflow_backend.py's `Function`
    calls `Session.run` every time (no session callable to cache) and the backend has
    no `is_tensor`; keras/models.py's `Sequential` forwards fit/evaluate/fit_generator/
    evaluate_generator to an inner `Sequential.model`, which holds the compiled
    functions."""

    versions = ('2.1.6',)
    session_callable_state = ()

    def fit_loop(self):
        from keras.engine import training
        return training.Model, '_fit_loop'

    def fit_loop_reached(self):
        from keras.engine import training
        return callable(vars(training.Model).get('_fit_loop'))

    def tensorboard(self):
        from keras import callbacks
        return callbacks.TensorBoard, 'on_epoch_end'

    def forwarding_models(self):
        """keras/models.py, `Sequential.fit`/`evaluate`/`fit_generator`/
        `evaluate_generator`: each calls the same method of `self.model`."""
        from keras import models
        return (models.Sequential,)

    def compiled_model(self, model):
        """keras/models.py, `Sequential.compile`/`build`: a `Sequential` compiles, and
        trains through, its inner `Sequential.model` (None until it is built)."""
        from keras import models
        if isinstance(model, models.Sequential):
            inner = vars(model).get('model')
            if inner is not None:
                return inner
        return model

    def is_tensor(self, value):
        """Keras 2.1's backend has no `is_tensor`: TensorFlow's own (`Family`'s)."""
        return Family.is_tensor(self, value)


class Keras231(GraphExecution, Keras225):
    """Keras 2.3.1: `keras.callbacks` is a package, its TensorBoard on TensorFlow 1 is
    keras/callbacks/tensorboard_v1.py's (`_write_logs`); `K.function` is
    tensorflow/python/keras/backend.py's `GraphExecutionFunction` (`GraphExecution`);
    `compile(metrics=['accuracy'])` logs `accuracy`/`val_accuracy`."""

    versions = ('2.3.1',)
    function_parts = ('inputs', 'outputs', 'updates_op', 'name', 'feed_dict', 'fetches',
                      'run_options', 'run_metadata', 'fetch_callbacks')
    accuracy_name = 'accuracy'


RELEASES = (Keras216, Standalone, Keras225, Keras231)
#: Keras releases the run-time patch supports: one family each, each proven by
#: tests/ in the version matrix.
SUPPORTED_KERAS = tuple(sorted(version for release in RELEASES for version in release.versions))
#: Why known releases outside `SUPPORTED_KERAS` are refused, from running them.
REFUSED_KERAS = {
    # Checked on TensorFlow 1.12.0 (matterport's `keras>=2.0.8`): with the 2.1.6
    # family forced, its internals check reports both attributes missing.
    '2.0.8': ("its backend `Function` (keras/backend/tensorflow_backend.py) takes no "
              "`fetches` or `feed_dict` (`keras.backend.tensorflow_backend.Function."
              "fetches` and `.feed_dict` are missing), and the capture runs its "
              "outputs as extra fetches of Keras' own validation function"),
}


def for_version(version):
    """The family of standalone Keras `version`.

    # Raises
        RuntimeError: In case that version is not supported, listing the supported ones
            (and, for a release in `REFUSED_KERAS`, why it is refused).
    """
    for release in RELEASES:
        if version in release.versions:
            return release()
    reason = REFUSED_KERAS.get(version)
    raise RuntimeError('keras_getpredict supports Keras %s; found Keras %s%s. Install '
                       'one of those, or use the fork in `patches/` against Keras 2.2.4.'
                       % (', '.join(SUPPORTED_KERAS), version,
                          ', which cannot be: ' + reason if reason else ''))
