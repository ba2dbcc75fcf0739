"""Every private Keras, TensorFlow and Horovod attribute keras-getpredict touches.

No other module reads or writes a private attribute of those libraries: they call
the functions here. Each function says in one line which file and function of the
library it relies on, and `check()` (run by `install()`) verifies that every one of
them exists in the imported versions, so a Keras, TensorFlow or Horovod that renamed
one fails at `install()` with the names, instead of misbehaving in mid-training.
Version-specific code plugs in here.

Two Keras stacks, one adapter family each:

- `'keras'`: standalone Keras 2.1.6, 2.2.4, 2.2.5, 2.3.1 (one adapter per release,
  chosen by `keras.__version__`);
- `'tf.keras'`: TensorFlow 1.15's own Keras (`tensorflow.python.keras`, 2.2.4-tf) in
  graph mode with its v1 training loops (`_TfKeras115`).

`family_of(model)` picks the family from the model itself, never from a version string
of the other stack; the code that captures never asks which stack it runs on.
"""
from __future__ import absolute_import

import sys

#: Where Horovod's `MetricAverageCallback` keeps its averaging code.
HOROVOD_CALLBACKS_MODULE = 'horovod._keras.callbacks'
#: Name under which Horovod's TensorFlow API lives once `horovod.keras` is imported.
HOROVOD_MODULE = 'horovod.tensorflow'

# keras/backend/tensorflow_backend.py, `Function.__init__`: what a backend function
# is built from, and what `Function._call` caches about its session callable.
FUNCTION_PARTS = ('inputs', 'outputs', 'updates_op', 'name', 'feed_dict', 'fetches',
                  'session_kwargs')
SESSION_CALLABLE_STATE = ('_callable_fn', '_feed_arrays', '_feed_symbols',
                          '_symbol_vals', '_session')
# horovod/_keras/callbacks.py, `MetricAverageCallbackImpl`: its allreduce of the logs.
_HOROVOD_AVERAGE = '_average_metrics_in_place'

#: The two Keras stacks, as `install(target=...)` names them.
STANDALONE = 'keras'
TF_KERAS = 'tf.keras'
STACKS = (STANDALONE, TF_KERAS)
#: tf.keras releases the run-time patch supports: TensorFlow 1.15's, outside TF 2
#: behaviour (tensorflow/python/keras/__init__.py says '2.3.0-tf' under `TF2_BEHAVIOR`).
SUPPORTED_TF_KERAS = ('2.2.4-tf',)
_TF_KERAS_TRAINING = 'tensorflow.python.keras.engine.training'


# --------------------------------------------------------- backend functions

def function_like(stock, extra_outputs, name_suffix, model=None):
    """A backend function with `stock`'s feeds, updates, feed_dict, user `fetches`
    and session arguments, returning `stock`'s outputs and then `extra_outputs`;
    built by the backend of `model`'s stack (standalone Keras' without a model).

    keras/backend/tensorflow_backend.py, `Function.__init__` (`updates_op`,
    `feed_dict`, `fetches`, `session_kwargs`).
    """
    if model is not None and _is_tf_keras(model):
        return _TfKeras115().function_like(stock, extra_outputs, name_suffix)
    from keras import backend as K
    versions = adapter()
    function = K.function(
        stock.inputs,
        list(stock.outputs) + list(extra_outputs),
        updates=[stock.updates_op],
        name=(stock.name or 'function') + name_suffix,
        feed_dict=stock.feed_dict,
        fetches=list(stock.fetches),
        **versions.session_arguments(stock))
    versions.carry_fetch_callbacks(stock, function)
    return function


def function_fetches(function):
    """The extra ops a backend function runs (`Function.fetches`, from
    `compile(fetches=...)`); keras/backend/tensorflow_backend.py, `Function.__init__`."""
    return list(function.fetches)


def _callable_state_names(function):
    """The attributes a backend function caches its session callable in: tensorflow/
    python/keras/backend.py's `GraphExecutionFunction` (tf.keras', and what Keras
    2.3's `K.function` returns) also keeps its fetch list (`_fetches`)."""
    backend = sys.modules.get('tensorflow.python.keras.backend')
    if backend is not None and isinstance(function, backend.GraphExecutionFunction):
        return _Keras23.session_callable_state
    return adapter().session_callable_state


def session_callable_state(function):
    """What `Function._call` cached about its session callable, as a tuple.

    keras/backend/tensorflow_backend.py, `Function._make_callable` / `Function._call`.
    """
    return tuple(getattr(function, name, None) for name in _callable_state_names(function))


def set_function_fetches(function, fetches, callable_state=None):
    """Sets a built backend function's `fetches`, with the session callable cached for
    that fetch list (`callable_state`), or none so `Function._call` makes a new one.

    keras/backend/tensorflow_backend.py, `Function._call` (re-makes the callable
    when `_callable_fn` is None).
    """
    function.fetches = list(fetches)
    names = _callable_state_names(function)
    if callable_state is None:
        if names:  # Keras 2.1 caches no callable
            function._callable_fn = None
    else:
        for name, value in zip(names, callable_state):
            setattr(function, name, value)


def session_callable(session, tensors):
    """A callable that evaluates `tensors` in one run of `session`, in the caller's
    thread; what Keras' own `Function` uses on TF >= 1.8, with about 5x less overhead
    per call than `Session.make_callable`.

    tensorflow/python/client/session.py, `BaseSession._make_callable_from_options`.
    """
    from tensorflow.core.protobuf import config_pb2
    options = config_pb2.CallableOptions()
    options.fetch.extend(tensor.name for tensor in tensors)
    # A few reads are too small a graph to be worth a hand-off to the inter-op
    # thread pool.
    options.run_options.inter_op_thread_pool = -1
    return session._make_callable_from_options(options)


# ------------------------------------------------------------ model functions

def compiled_model(model):
    """The model object that holds `model`'s compiled train/test functions and runs
    its training loops: `model` itself, or on Keras 2.1 the inner `Sequential.model`
    a `Sequential` forwards to (see `_Keras21.compiled_model`)."""
    return family_of(model).compiled_model(model)


def built_test_function(model):
    """`model.test_function`, built first if needed; keras/engine/training.py,
    `Model._make_test_function`."""
    model = compiled_model(model)
    model._make_test_function()
    return model.test_function


def built_train_function(model):
    """`model.train_function`, built first if needed; keras/engine/training.py,
    `Model._make_train_function`. Raises Keras' own error for an uncompiled model:
    tf.keras' `_make_train_function` would fail on a missing attribute first, so its
    `_assert_compile_was_called` (tensorflow/python/keras/engine/training.py) runs
    before, as its `fit` does."""
    model = compiled_model(model)
    if getattr(model, 'train_function', None) is None:
        if _is_tf_keras(model):
            model._assert_compile_was_called()
        model._make_train_function()
    return model.train_function


def test_function_set_on(model):
    """The test function set on this model object itself (not a class default)."""
    return compiled_model(model).__dict__.get('test_function')


def set_test_function(model, function):
    """keras/engine/training.py: `test_on_batch`, `evaluate` and `fit` read
    `model.test_function` at call time."""
    compiled_model(model).test_function = function


def int_shape(tensor):
    """The shape Keras knows for `tensor` (`None` where unknown, or for an unknown
    rank). Standalone Keras keeps its own in `_keras_shape`, which can know more than
    TensorFlow's static shape (after `Reshape` with -1): keras/backend/
    tensorflow_backend.py, `int_shape`. tf.keras' is TensorFlow's static shape
    (tensorflow/python/keras/backend.py, `int_shape`), so either stack's tensor works
    without importing that stack."""
    keras_shape = getattr(tensor, '_keras_shape', None)
    if keras_shape is not None:
        return tuple(keras_shape)
    try:
        return tuple(tensor.shape.as_list())
    except (AttributeError, TypeError, ValueError):
        return None


def run_checked(function, inputs, mark, explain):
    """`function(inputs)`; when one of our `tf.debugging.assert_equal` ops fails (its
    message is `mark` then a tag), raises what `explain(tag, x)` returns instead of
    TensorFlow's `InvalidArgumentError` (`x`: the first compared value, as text).

    tensorflow/python/ops/check_ops.py, `_binary_assert`'s message layout:
    `[<message>] [Condition x == y did not hold element-wise:] [x (...) = ] [<x>] ...`.
    """
    import re
    import tensorflow as tf
    try:
        return function(inputs)
    except tf.errors.InvalidArgumentError as e:
        message = str(e)
        found = re.search(re.escape(mark) + r'(\w+)', message)
        if found is None:
            raise
        value = re.search(r'\[x \([^)]*\) = \] \[([^\]]*)\]', message)
        raise explain(found.group(1), value.group(1) if value else '?')


def model_targets(model):
    """The target tensor of each output (`None` where an output has none);
    keras/engine/training.py, `Model.compile` (`self.targets`); tf.keras has no
    `targets` (see `_TfKeras115.model_targets`)."""
    if _is_tf_keras(model):
        return _TfKeras115().model_targets(model)
    return list(getattr(model, 'targets', None) or [])


def model_sample_weights(model):
    """The sample-weight tensor of each output; keras/engine/training.py,
    `Model.compile` (`self.sample_weights`)."""
    return list(getattr(model, 'sample_weights', None) or [])


def is_tensor(value, model=None):
    """Whether a fed value is a symbolic tensor rather than data; keras/backend/
    tensorflow_backend.py's `is_tensor` (Keras >= 2.2; on 2.1, and for a tf.keras
    `model`, TensorFlow's own)."""
    return family_of(model).is_tensor(value)


def session(model=None):
    """The TensorFlow session `model`'s stack runs it in: standalone Keras'
    `K.get_session()`, or tf.keras' own (tensorflow/python/keras/backend.py,
    `get_session`), a second session on the same graph. Without a model: standalone
    Keras' when it is imported, else tf.keras'."""
    if model is None and 'keras' not in sys.modules and _TF_KERAS_TRAINING in sys.modules:
        return _TfKeras115().session()
    return family_of(model).session()


def check_capture_mode(model):
    """Raises unless `model`'s stack can capture in the mode it will run in: tf.keras
    only in graph mode with its v1 training loops (`_TfKeras115.unsupported_mode`).
    Called only when something asks for capture; a call without stays stock.

    # Raises
        ValueError: In case the model would run eagerly, in tf.keras' v2 loop or
            under a `tf.distribute` strategy, naming the supported mode.
    """
    if not _is_tf_keras(model):
        return
    family = _TfKeras115()
    reason = family.unsupported_mode(model)
    if reason is not None:
        raise ValueError('`get_predict` works with %s; here %s.'
                         % (family.supported_mode, reason))


def callback_face(implementation):
    """`implementation` (a base-free class of ours with Keras 2.2.4's hook names) as a
    Keras callback: a subclass of `callback_base()`, which runs in a `fit` of either
    stack. One class per implementation, made once."""
    face = _FACES.get(implementation)
    if face is None:
        face = _FACES[implementation] = type(
            implementation.__name__, (implementation, callback_base()),
            {'__module__': implementation.__module__, '__doc__': implementation.__doc__})
    return face


_FACES = {}


class _TfKerasHooks(object):
    """The hooks tf.keras 1.15's `CallbackList` calls by name that Keras 2.2.4's
    `Callback` lacks (tensorflow/python/keras/callbacks.py, `CallbackList.
    _call_batch_hook`, `_call_begin_hook`, `_call_end_hook`), as tf.keras' own
    `Callback` defines them: train batches forward to `on_batch_*`, the rest do
    nothing. Behind Keras' `Callback` in the bases, so Keras 2.3's own (the same)
    come first."""

    #: tensorflow/python/keras/callbacks.py, `Callback.__init__`; read in multi-worker
    #: training only.
    _chief_worker_only = None

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


def callback_base():
    """The base of keras-getpredict's own callbacks, which users make before any
    model exists: standalone Keras' `Callback` (keras/callbacks.py) where it is
    importable, else tf.keras' (tensorflow/python/keras/callbacks.py), with the
    hooks the other stack's `CallbackList` calls (`_TfKerasHooks`), so one instance
    runs in a `fit` of either stack; `isinstance(callback, keras.callbacks.Callback)`
    stays true for standalone Keras."""
    if not _CALLBACK_BASE:
        try:
            from keras.callbacks import Callback
        except ImportError:
            from tensorflow.python.keras.callbacks import Callback
        _CALLBACK_BASE.append(type('Callback', (Callback, _TfKerasHooks),
                                   {'__module__': __name__, '__doc__': callback_base.__doc__}))
    return _CALLBACK_BASE[0]


_CALLBACK_BASE = []


def fit_validates(model, validation_data, validation_split):
    """Whether a tf.keras `model.fit` will validate, by tf.keras' own rule (engine/
    training_arrays.py, `ArrayLikeTrainingLoop.fit`): `if validation_data:`, which a
    Dataset, generator or `Sequence` (no `len`) passes too, or `0 < validation_split
    < 1`. Standalone Keras' rule is `publishing.fit_validates`'."""
    return _TfKeras115().fit_validates(validation_data, validation_split)


def fit_validates_in_window(model):
    """Whether `model.fit` validates through `model.test_function`, read when it
    validates (tf.keras), rather than a function handed to a `fit_loop` hook."""
    return _is_tf_keras(model)


# -------------------------------------------------------- what install() patches

def patch_owners(stack=STANDALONE):
    """The objects whose attributes the run-time patch replaces, by role, for the
    imported Keras (see the adapters below for which file holds each):

    - `model`: `Model.fit`/`evaluate`/`fit_generator`/`evaluate_generator` (the
      generator methods under keras/legacy/interfaces.py's
      `legacy_generator_methods_support`, whose wrapper keeps `__wrapped__`);
    - `forwarding_models`: classes that define those four methods again only to
      forward them to an inner model (Keras 2.1's `Sequential`), patched the same way;
    - `fit_loop`: `(owner, name)` of the loop `Model.fit` hands its validation
      function to, looked up at call time;
    - `callbacks`: the module holding `History`/`CSVLogger`/`RemoteMonitor`;
    - `tensorboard`: `(TensorBoard class, name of the method that writes epoch logs
      as summaries)`.

    For `stack='tf.keras'` see `_TfKeras115.patch_owners` (`test_function_builder`
    instead of `fit_loop`).
    """
    if stack == TF_KERAS:
        return _TfKeras115().patch_owners()
    return adapter().patch_owners()


def fit_loop_validation_argument():
    """The name of the validation function's parameter of the `fit_loop` owner."""
    return adapter().validation_argument


def fit_hands_to_fit_generator(x):
    """Whether `Model.fit(x, ...)` trains `x` by calling `self.fit_generator` (a
    generator or `Sequence` on Keras >= 2.2.5), so its validation runs there."""
    return adapter().fit_hands_to_fit_generator(x)


def legacy_generator_method(make):
    """For `fit_generator`/`evaluate_generator`, which carry Keras' legacy-argument
    decorator: wraps the function inside it and decorates again, so Keras 1
    argument names are converted before the replacement sees them.

    keras/legacy/interfaces.py, `legacy_generator_methods_support`.
    """
    from keras.legacy import interfaces
    return lambda original: interfaces.legacy_generator_methods_support(
        make(original.__wrapped__))


# ------------------------------------------------------------ version adapters

class _Keras22(object):
    """Keras 2.2.4: keras/engine/training.py calls keras/engine/training_arrays.py's
    `fit_loop(model, f, ins, ..., val_f=...)`; keras/callbacks.py's
    `TensorBoard._write_logs` writes the epoch logs; keras/backend/tensorflow_backend.py's
    `Function` caches a session callable (`_make_callable`)."""

    versions = ('2.2.4',)
    validation_argument = 'val_f'
    session_callable_state = SESSION_CALLABLE_STATE
    function_parts = FUNCTION_PARTS

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
        """keras/callbacks.py (2.3: keras/callbacks/tensorboard_v1.py on TensorFlow 1),
        `TensorBoard._write_logs`."""
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

    def compiled_model(self, model):
        """keras/engine/training.py, `Model.compile`: a model compiles itself."""
        return model

    def is_tensor(self, value):
        """keras/backend/tensorflow_backend.py, `is_tensor`."""
        from keras import backend as K
        return K.is_tensor(value)

    def session(self):
        """keras/backend/tensorflow_backend.py, `get_session` (public)."""
        from keras import backend as K
        return K.get_session()

    def session_arguments(self, function):
        """The `K.function` keyword arguments that rebuild `function`'s session run;
        keras/backend/tensorflow_backend.py, `Function.__init__` (`session_kwargs`)."""
        return dict(function.session_kwargs)

    def fit_hands_to_fit_generator(self, x):
        return False

    def own_internals(self):
        """`(name, present)` pairs of what only this family relies on."""
        return []

    def carry_fetch_callbacks(self, stock, function):
        """Keras 2.2.4's `Function` has no per-fetch callbacks: nothing to carry."""


class _Keras225(_Keras22):
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


class _Keras21(_Keras22):
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
        """Keras 2.1's backend has no `is_tensor`; tensorflow/python/framework/
        tensor_util.py's `is_tensor` is what Keras 2.2's wraps."""
        import tensorflow as tf
        return tf.is_tensor(value)


class _Keras23(_Keras225):
    """Keras 2.3.1: `keras.callbacks` is a package, its TensorBoard on TensorFlow 1 is
    keras/callbacks/tensorboard_v1.py's (`_write_logs`); `K.function` is
    tensorflow/python/keras/backend.py's `GraphExecutionFunction`, which keeps
    `options`/`run_metadata` apart and caches its fetch list (`_fetches`)."""

    versions = ('2.3.1',)
    session_callable_state = SESSION_CALLABLE_STATE + ('_fetches',)
    function_parts = ('inputs', 'outputs', 'updates_op', 'name', 'feed_dict', 'fetches',
                      'run_options', 'run_metadata', 'fetch_callbacks')

    def session_arguments(self, function):
        """tensorflow/python/keras/backend.py, `GraphExecutionFunction.__init__`
        (`run_options`, `run_metadata` from `options=`, `run_metadata=`)."""
        arguments = {}
        if function.run_options is not None:
            arguments['options'] = function.run_options
        if function.run_metadata is not None:
            arguments['run_metadata'] = function.run_metadata
        return arguments

    def carry_fetch_callbacks(self, stock, function):
        """tensorflow/python/keras/backend.py, `GraphExecutionFunction.__init__` wraps
        each fetch in an `identity` and `_call_fetch_callbacks` looks the wrapped one
        up in `fetch_callbacks`: the sibling's fetches get the stock's callbacks."""
        for old, new in zip(stock.fetches, function.fetches):
            if old in stock.fetch_callbacks:
                function.fetch_callbacks[new] = stock.fetch_callbacks[old]


_ADAPTERS = (_Keras21, _Keras22, _Keras225, _Keras23)
#: Keras releases the run-time patch supports (on TensorFlow 1.15): one adapter each,
#: each proven by tests/ in the version matrix.
SUPPORTED_KERAS = tuple(sorted(version for family in _ADAPTERS for version in family.versions))


def adapter_for(version):
    """The adapter of Keras `version`.

    # Raises
        RuntimeError: In case that version is not supported, listing the supported ones.
    """
    for family in _ADAPTERS:
        if version in family.versions:
            return family()
    raise RuntimeError('keras_getpredict supports Keras %s; found Keras %s. Install '
                       'one of those, or use the fork in `patches/` against Keras 2.2.4.'
                       % (', '.join(SUPPORTED_KERAS), version))


def adapter():
    """The adapter of the imported standalone Keras (see `adapter_for`)."""
    import keras
    return adapter_for(keras.__version__)


def _is_tf_keras(model):
    """Whether `model` is a tf.keras model (tensorflow/python/keras/engine/training.py,
    `Model`), without importing tf.keras for a standalone one."""
    training = sys.modules.get(_TF_KERAS_TRAINING)
    return training is not None and model is not None and isinstance(model, training.Model)


def family_of(model):
    """The adapter of the stack `model` belongs to: tf.keras for a
    `tensorflow.python.keras` model, else standalone Keras' by its version."""
    if _is_tf_keras(model):
        return _TfKeras115()
    return adapter()


def unavailable(stack):
    """Why `stack` (`'keras'` or `'tf.keras'`) cannot be patched here, or `None` when
    it can: not importable, or not a release supported here.

    # Raises
        ValueError: In case `stack` is none of `STACKS`.
    """
    if stack == STANDALONE:
        try:
            import keras
            from keras import backend as K
        except ImportError as e:
            return 'standalone Keras is not importable (%s)' % e
        try:
            adapter_for(keras.__version__)
        except RuntimeError as e:
            return str(e)
        if K.backend() != 'tensorflow':
            return ('keras_getpredict needs the TensorFlow backend; the Keras backend is '
                    '%r. Set KERAS_BACKEND=tensorflow.' % K.backend())
        return None
    if stack == TF_KERAS:
        try:
            import tensorflow as tf
            from tensorflow.python import keras
        except ImportError as e:
            return 'tf.keras is not importable (%s)' % e
        version = getattr(keras, '__version__', None)
        if not tf.__version__.startswith('1.15.') or version not in SUPPORTED_TF_KERAS:
            return ('keras_getpredict supports the tf.keras of TensorFlow 1.15 (Keras %s, '
                    'TensorFlow 1 behaviour); found TensorFlow %s, tf.keras %s.'
                    % (', '.join(SUPPORTED_TF_KERAS), tf.__version__, version))
        return None
    raise ValueError(_target_message(stack))


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


class _FetchFollowingFunction(object):
    """A sibling `GraphExecutionFunction` that runs whatever `fetches` the stock one
    has *now*, with the stock's `fetch_callbacks`.

    tensorflow/python/keras/callbacks_v1.py, `TensorBoard.on_epoch_begin`/`on_epoch_end`:
    with `histogram_freq`, tf.keras' TensorBoard appends its merged summary to
    `model.test_function.fetches` (and a callback writing it) on the epochs it is due,
    and takes it out at the epoch end. A sibling that copied the fetches once would
    write histograms on every epoch. `GraphExecutionFunction.__call__` re-makes its
    callable when `fetches != _fetches`, so following the list costs a rebuild only
    when the list changed.
    """

    def __init__(self, stock, function):
        self.stock_function = stock
        self.function = function

    def __call__(self, inputs):
        self.function.fetches = list(self.stock_function.fetches)
        self.function.fetch_callbacks = self.stock_function.fetch_callbacks
        return self.function(inputs)

    def __getattr__(self, name):
        # `inputs`, `outputs`, ... of the sibling it runs.
        return getattr(self.function, name)


class _TfKeras115(object):
    """tf.keras 1.15 (tensorflow/python/keras/, Keras 2.2.4-tf) in graph mode:

    - engine/training.py `Model.fit` picks a loop (`_select_training_loop`):
      engine/training_arrays.py for arrays, Datasets and tensors, engine/
      training_generator.py for generators and `Sequence`s; both validate by reading
      `model.test_function` after the epoch's last training batch
      (`_make_execution_function` / `test_on_batch`), as `fit_generator` does: both
      capture by the window, no `fit_loop` hook;
    - `Model._make_test_function` rebuilds the test function in mid-call when the
      sample-weight mode changes (`_recompile_weights_loss_and_weighted_metrics`);
    - no `model.targets`: engine/training.py `_TrainingEndpoint.training_target`;
    - its own session (backend.py `get_session`), apart from standalone Keras';
    - backend.py `GraphExecutionFunction`, as Keras 2.3.1's `K.function`;
    - callbacks_v1.py's `TensorBoard` (TensorFlow 1's `tf.keras.callbacks.TensorBoard`)
      writes epoch logs in `_write_custom_summaries` and edits the test function's
      fetches for histograms.
    """

    stack = TF_KERAS
    session_callable_state = SESSION_CALLABLE_STATE + ('_fetches',)
    function_parts = ('inputs', 'outputs', 'updates_op', 'feed_dict', 'fetches',
                      'fetch_callbacks', 'run_options', 'run_metadata')
    supported_mode = ('tf.keras in graph mode with the v1 training loops (TensorFlow 1.15\'s '
                      'default: no tf.compat.v1.enable_v2_behavior(), no '
                      'tf.compat.v1.enable_eager_execution(), no run_eagerly, no '
                      'tf.distribute strategy)')

    def backend(self):
        from tensorflow.python.keras import backend as K
        return K

    def session(self):
        """tensorflow/python/keras/backend.py, `get_session` (public)."""
        return self.backend().get_session()

    def compiled_model(self, model):
        """engine/training.py: a model compiles itself (`Sequential` inherits)."""
        return model

    def is_tensor(self, value):
        """tensorflow/python/framework/tensor_util.py, `is_tensor`."""
        import tensorflow as tf
        return tf.is_tensor(value)

    def model_targets(self, model):
        """engine/training.py, `Model._targets` without skipping: one
        `_TrainingEndpoint` per output, its `training_target.target` (or none)."""
        return [endpoint.training_target.target if endpoint.has_training_target() else None
                for endpoint in getattr(model, '_training_endpoints', None) or []]

    def fit_validates(self, validation_data, validation_split):
        """engine/training_arrays.py, `ArrayLikeTrainingLoop.fit`: `if validation_data:`
        (a numpy array there would be ambiguous: Keras raises on it itself)."""
        if validation_data is not None and not isinstance(validation_data, (tuple, list)):
            return True
        if validation_data:
            return True
        return bool(validation_split and 0. < validation_split < 1.)

    def session_arguments(self, function):
        """As Keras 2.3's: the same `GraphExecutionFunction`."""
        return _Keras23.session_arguments(self, function)

    def function_like(self, stock, extra_outputs, name_suffix):
        """See the module-level `function_like`: the sibling runs the stock's fetches
        of the moment (`_FetchFollowingFunction`)."""
        function = self.backend().function(
            stock.inputs,
            list(stock.outputs) + list(extra_outputs),
            updates=[stock.updates_op],
            name=(getattr(stock, 'name', None) or 'function') + name_suffix,
            feed_dict=stock.feed_dict,
            **self.session_arguments(stock))
        return _FetchFollowingFunction(stock, function)

    def unsupported_mode(self, model):
        """engine/training.py, `Model._select_training_loop`: eager execution picks
        training_v2.py's loop or eager functions; a strategy (`_distribution_strategy`)
        training_distributed.py; `run_eagerly` (also
        `tf.config.experimental_run_functions_eagerly`, eager/def_function.py
        `RUN_FUNCTIONS_EAGERLY`) the eager generator loop. Only graph mode reaches the
        v1 loops with a `GraphExecutionFunction`."""
        import tensorflow as tf
        from tensorflow.python.eager import def_function
        if tf.executing_eagerly():
            return ('eager execution is on (tf.compat.v1.enable_v2_behavior() or '
                    'tf.compat.v1.enable_eager_execution()): Keras runs its v2 loop '
                    '(training_v2.py) or eager functions')
        if getattr(model, '_distribution_strategy', None) is not None:
            return 'the model was compiled under a tf.distribute strategy'
        run_eagerly = getattr(model, '_run_eagerly', None)
        if run_eagerly or (run_eagerly is None and def_function.RUN_FUNCTIONS_EAGERLY):
            return ('the model runs eagerly (`run_eagerly`, '
                    '`tf.config.experimental_run_functions_eagerly`)')
        return None

    def patch_owners(self):
        """engine/training.py `Model` (fit, fit_generator, evaluate, evaluate_generator,
        `_make_test_function`; no legacy-argument decorator, `Sequential` inherits);
        callbacks.py `History`/`CSVLogger`/`RemoteMonitor`; callbacks_v1.py
        `TensorBoard._write_custom_summaries` (TensorFlow 1's `tf.keras.callbacks.
        TensorBoard`) and callbacks.py `TensorBoard._log_metrics` (the v2 class,
        `tf.compat.v2.keras.callbacks.TensorBoard`, also usable in graph mode)."""
        from tensorflow.python.keras import callbacks, callbacks_v1
        from tensorflow.python.keras.engine import training
        return {'model': training.Model, 'forwarding_models': (),
                'test_function_builder': (training.Model, '_make_test_function'),
                'callbacks': callbacks,
                'tensorboard': (callbacks_v1.TensorBoard, '_write_custom_summaries'),
                'tensorboard_v2': (callbacks.TensorBoard, '_log_metrics')}

    def probe_function(self):
        # A throwaway graph and session: building one leaves nothing in the user's.
        import tensorflow as tf
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph).as_default() as session:
            try:
                return self.backend().function([], [tf.constant(0)])
            finally:
                session.close()

    def missing_internals(self):
        """The names of what this family relies on that the imported TensorFlow lacks."""
        import inspect
        import tensorflow as tf
        from tensorflow.python.eager import def_function
        from tensorflow.python.keras import callbacks, callbacks_v1
        from tensorflow.python.keras.engine import training

        def assigns(function, name):
            # The Keras code still sets that attribute on the model.
            code = getattr(inspect.unwrap(function), '__code__', None)
            return code is not None and name in code.co_names

        endpoint = getattr(training, '_TrainingEndpoint', None)
        function = self.probe_function()
        prefix = 'tensorflow.python.keras.'
        required = [(prefix + 'backend.GraphExecutionFunction.' + name,
                     lambda name=name: hasattr(function, name))
                    for name in self.function_parts + self.session_callable_state]
        required += [
            ('tensorflow Session._make_callable_from_options',
             lambda: hasattr(tf.compat.v1.Session, '_make_callable_from_options')),
            (prefix + 'engine.training.Model._make_test_function',
             lambda: callable(vars(training.Model).get('_make_test_function'))),
            (prefix + 'engine.training.Model._make_train_function',
             lambda: hasattr(training.Model, '_make_train_function')),
            (prefix + 'engine.training.Model._assert_compile_was_called',
             lambda: hasattr(training.Model, '_assert_compile_was_called')),
            (prefix + 'engine.training.Model._training_endpoints',
             lambda: assigns(training.Model.compile, '_training_endpoints')),
            (prefix + 'engine.training.Model._run_eagerly',
             lambda: assigns(training.Model.compile, '_run_eagerly')),
            (prefix + 'engine.training.Model._distribution_strategy',
             lambda: assigns(training.Model.__init__, '_distribution_strategy')),
            (prefix + 'engine.training._TrainingEndpoint.training_target',
             lambda: hasattr(endpoint, 'training_target')),
            (prefix + 'engine.training._TrainingEndpoint.has_training_target',
             lambda: hasattr(endpoint, 'has_training_target')),
            (prefix + 'callbacks_v1.TensorBoard._write_custom_summaries',
             lambda: callable(vars(callbacks_v1.TensorBoard).get('_write_custom_summaries'))),
            (prefix + 'callbacks.TensorBoard._log_metrics',
             lambda: callable(vars(callbacks.TensorBoard).get('_log_metrics'))),
            ('tensorflow.python.eager.def_function.RUN_FUNCTIONS_EAGERLY',
             lambda: hasattr(def_function, 'RUN_FUNCTIONS_EAGERLY')),
        ]
        return required


# ------------------------------------------------------------------- Horovod

def horovod_if_active():
    """The `horovod.tensorflow` module when it is initialised with more than one rank,
    else `None`. Never imports Horovod (it stays an optional dependency)."""
    hvd = sys.modules.get(HOROVOD_MODULE)
    if hvd is None:
        return None
    try:
        if not hvd.is_initialized():
            return None
        return hvd if hvd.size() > 1 else None
    except (AttributeError, ValueError):
        # A partial import, or an initialisation that failed: not distributed.
        return None


def metric_average_callbacks(callbacks):
    """The Horovod `MetricAverageCallback`s among `callbacks` (none when Horovod's
    Keras callbacks are not imported); horovod/_keras/callbacks.py,
    `MetricAverageCallbackImpl`."""
    module = sys.modules.get(HOROVOD_CALLBACKS_MODULE)
    impl = getattr(module, 'MetricAverageCallbackImpl', None)
    if impl is None:
        return []
    return [callback for callback in callbacks if isinstance(callback, impl)]


def wrap_metric_average(callback, make):
    """Replaces one `MetricAverageCallback` instance's allreduce of the logs by
    `make(original)`. Returns a function that undoes it.

    horovod/_keras/callbacks.py, `MetricAverageCallbackImpl._average_metrics_in_place`.

    # Raises
        RuntimeError: In case this Horovod has no such method (it was renamed):
            stepping over the predictions would silently do nothing.
    """
    original = getattr(callback, _HOROVOD_AVERAGE, None)
    if original is None:
        raise RuntimeError(_missing_message(['%s.MetricAverageCallbackImpl.%s' % (
            HOROVOD_CALLBACKS_MODULE, _HOROVOD_AVERAGE)]))
    if _HOROVOD_AVERAGE in vars(callback):
        return lambda: None  # already wrapped by an enclosing call
    setattr(callback, _HOROVOD_AVERAGE, make(original))
    return lambda: delattr(callback, _HOROVOD_AVERAGE)


# --------------------------------------------------------------- foreign wrappers

def keras_directories():
    """The directories of the imported Keras stacks' code (standalone `keras/`,
    `tensorflow/python/keras/`), to tell Keras' own frames and functions apart."""
    import os
    directories = []
    for name in ('keras', 'tensorflow.python.keras'):
        path = getattr(sys.modules.get(name), '__file__', None)
        if path:
            directories.append(os.path.dirname(os.path.abspath(path)))
    return directories


def foreign_code(function):
    """`(name, where)` of `function` when it is not Keras' own function but a wrapper
    someone put in its place, else `None`.

    Keras' own is a plain function whose code lies in the Keras package. A wrapper is
    either a function whose code lies elsewhere (even one made with `functools.wraps`,
    which copies the name and module but not the code), or any other object: a class
    instance with `__call__`, or a proxy such as `wrapt.FunctionWrapper`, which forwards
    even `__code__` and `__class__` to what it wraps (so `type()`, not `isinstance`).
    """
    import inspect
    import os
    import types
    if function is None:
        return None  # missing altogether: the internals check names it
    if issubclass(type(function), types.FunctionType):
        code = function.__code__
        filename = os.path.abspath(code.co_filename)
        if any(filename.startswith(d + os.sep) for d in keras_directories()):
            return None
        return code.co_name, '%s, line %d' % (code.co_filename, code.co_firstlineno)
    kind = type(function)
    name = getattr(kind, '__qualname__', kind.__name__) + ' object'
    if kind.__module__ != 'builtins':  # C types often leave their module unnamed
        name = '%s.%s' % (kind.__module__, name)
    try:
        where = '%s, line %d' % (inspect.getsourcefile(kind), inspect.getsourcelines(kind)[1])
    except (TypeError, OSError):  # a class without Python source (C, or built in a REPL)
        where = repr(function)
    return name, where


def foreign_wrappers(patched):
    """The methods among `patched` (`(owner, name)` pairs of what `install()` replaces)
    whose current object is not Keras' own but a wrapper someone put there, as
    `(owner, name, (wrapper name, where it is defined))`."""
    found = []
    for owner, name in patched:
        code = foreign_code(vars(owner).get(name))
        if code is not None:
            found.append((owner, name, code))
    return found


# --------------------------------------------------------------------- check

def _missing_message(missing):
    return ('keras_getpredict relies on private attributes that the imported '
            'libraries do not have: %s. This Keras/TensorFlow/Horovod is not one '
            'keras_getpredict supports.' % ', '.join(missing))


def _probe_function():
    # A throwaway graph: building a backend function leaves nothing in the user's.
    # And a throwaway default session: Keras 2.3.1's `K.function` asks
    # `get_session()` for it (keras/backend/tensorflow_backend.py,
    # `v1_variable_initialization`), which would otherwise replace Keras' global
    # session by one for this graph, so the user's next run gets a new session with
    # none of its variables initialised.
    import tensorflow as tf
    from keras import backend as K
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph).as_default() as session:
        try:
            return K.function([], [tf.constant(0)])
        finally:
            session.close()


def _function_internals():
    # What reaching into a built backend function needs (`BatchPredictions` too).
    import tensorflow as tf
    versions = adapter()
    function = _probe_function()
    required = [('keras.backend.tensorflow_backend.Function.' + name,
                 lambda name=name: hasattr(function, name))
                for name in versions.function_parts + versions.session_callable_state]
    return required + [
        ('tensorflow Session._make_callable_from_options',
         lambda: hasattr(tf.compat.v1.Session, '_make_callable_from_options'))]


def _takes(function, parameter):
    import inspect
    try:
        return parameter in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def missing_internals(stack=STANDALONE):
    """The names of the private attributes above that the imported libraries lack
    (`stack`: `'keras'`, standalone Keras, or `'tf.keras'`)."""
    if stack == TF_KERAS:
        return [name for name, present in _TfKeras115().missing_internals() + _horovod_internals()
                if not present()]
    from keras.engine import training
    from keras.legacy import interfaces

    versions = adapter()
    owners = versions.patch_owners()
    fit_loop_owner, fit_loop_name = owners['fit_loop']
    tensorboard, tensorboard_method = owners['tensorboard']
    required = _function_internals() + [
        ('keras.engine.training.Model._make_test_function',
         lambda: hasattr(training.Model, '_make_test_function')),
        ('keras.engine.training.Model._make_train_function',
         lambda: hasattr(training.Model, '_make_train_function')),
        ('%s.%s (looked up by Model.fit at call time)' % (
            getattr(fit_loop_owner, '__name__', fit_loop_owner), fit_loop_name),
         versions.fit_loop_reached),
        ('%s.%s parameter `%s`' % (
            getattr(fit_loop_owner, '__name__', fit_loop_owner), fit_loop_name,
            versions.validation_argument),
         lambda: _takes(vars(fit_loop_owner).get(fit_loop_name), versions.validation_argument)),
        ('keras.legacy.interfaces.legacy_generator_methods_support',
         lambda: hasattr(interfaces, 'legacy_generator_methods_support')),
        ('keras.engine.training.Model.fit_generator.__wrapped__',
         lambda: hasattr(vars(training.Model)['fit_generator'], '__wrapped__')),
        ('keras.engine.training.Model.evaluate_generator.__wrapped__',
         lambda: hasattr(vars(training.Model)['evaluate_generator'], '__wrapped__')),
        ('keras.callbacks.TensorBoard.' + tensorboard_method,
         lambda: tensorboard_method in vars(tensorboard)),
    ] + versions.own_internals()
    for forwarding in owners['forwarding_models']:
        for method in ('fit', 'evaluate', 'fit_generator', 'evaluate_generator'):
            required.append(('%s.%s.%s' % (forwarding.__module__, forwarding.__name__, method),
                             lambda forwarding=forwarding, method=method:
                             callable(vars(forwarding).get(method))))
        for method in ('fit_generator', 'evaluate_generator'):
            required.append(('%s.%s.%s.__wrapped__' % (
                forwarding.__module__, forwarding.__name__, method),
                lambda forwarding=forwarding, method=method:
                hasattr(vars(forwarding).get(method), '__wrapped__')))
    required += _horovod_internals()
    return [name for name, present in required if not present()]


def _horovod_internals():
    module = sys.modules.get(HOROVOD_CALLBACKS_MODULE)
    if module is None:
        return []
    return [(
        '%s.MetricAverageCallbackImpl.%s' % (HOROVOD_CALLBACKS_MODULE, _HOROVOD_AVERAGE),
        lambda: hasattr(getattr(module, 'MetricAverageCallbackImpl', None),
                        _HOROVOD_AVERAGE))]


def check(stack=STANDALONE):
    """Verifies that every private attribute listed here exists for `stack`.

    # Raises
        RuntimeError: In case any is missing, naming each one.
    """
    missing = missing_internals(stack)
    if missing:
        raise RuntimeError(_missing_message(missing))


def check_train_function_access(user, model=None):
    """What `user` (a class reaching into the built train function of `model`) needs:
    a supported Keras and the backend function's internals (for a tf.keras `model`,
    tf.keras' internals, `missing_internals('tf.keras')`).

    # Raises
        RuntimeError: In case Keras is not a supported version, or an attribute
            is missing, naming the version or the attributes.
    """
    if _is_tf_keras(model):
        if TF_KERAS not in _function_internals_present:
            reason = unavailable(TF_KERAS)
            if reason is not None:
                raise RuntimeError('%s: %s' % (user, reason))
            check(TF_KERAS)
            _function_internals_present.append(TF_KERAS)
        return
    import keras
    try:
        adapter()
    except RuntimeError:
        raise RuntimeError('%s works with Keras %s only; found Keras %s. Install one of '
                           'those.' % (user, ', '.join(SUPPORTED_KERAS), keras.__version__))
    if STANDALONE in _function_internals_present:
        return  # libraries do not change under a running process: probe once per stack
    missing = [name for name, present in _function_internals() if not present()]
    if missing:
        raise RuntimeError('%s: %s' % (user, _missing_message(missing)))
    _function_internals_present.append(STANDALONE)


#: The stacks whose train-function internals were found present.
_function_internals_present = []
