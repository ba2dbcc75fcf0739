"""What every Keras family gives the capture: the `Family` interface, and the few
TensorFlow helpers that do not depend on the family.

A family is one Keras (standalone Keras of one release, or TensorFlow's own tf.keras)
seen through the internals keras-getpredict relies on. The caller resolves it once
per `fit*`/`evaluate*` call (`families.family_of(model)`) or once at `install()`
(`families.for_stack(stack)`) and passes it down; nothing below asks again which
Keras it runs in (the shape of Horovod's `_keras` implementations, which take the
backend as an argument).
"""
from __future__ import absolute_import

from .messages import missing_message

#: The two Keras stacks, as `install(target=...)` names them.
STANDALONE = 'keras'
TF_KERAS = 'tf.keras'
STACKS = (STANDALONE, TF_KERAS)
#: The stacks the keras-getpredict fork (`patches/`, Keras 2.2.4) can stand for.
FORKED_STACKS = (STANDALONE,)

# keras/backend/tensorflow_backend.py, `Function.__init__`: what a backend function
# is built from, and what `Function._call` caches about its session callable.
FUNCTION_PARTS = ('inputs', 'outputs', 'updates_op', 'name', 'feed_dict', 'fetches',
                  'session_kwargs')
SESSION_CALLABLE_STATE = ('_callable_fn', '_feed_arrays', '_feed_symbols',
                          '_symbol_vals', '_session')


def tf_v1():
    """TensorFlow's 1.x API: `tf.compat.v1` (TensorFlow >= 1.13), else the top-level
    names, where TensorFlow 1.12 and older keep them (`tf.Session`, `tf.RunOptions`,
    `tf.assign`, `tf.placeholder`, `tf.logging`, ...)."""
    import tensorflow as tf
    return getattr(getattr(tf, 'compat', None), 'v1', None) or tf


def raw_op(name, generated):
    """TensorFlow's op `name` as `tf.raw_ops` gives it, else (a TensorFlow without
    `tf.raw_ops`) its generated Python wrapper `generated` of tensorflow/python/ops/
    gen_math_ops.py (TensorFlow 1.12: `bincount`, `_clip_by_value`), which takes the
    same keyword arguments."""
    import tensorflow as tf
    raw_ops = getattr(tf, 'raw_ops', None)
    if raw_ops is not None:
        return getattr(raw_ops, name)
    from tensorflow.python.ops import gen_math_ops
    return getattr(gen_math_ops, generated)


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
    """`function(inputs)`; when one of our `assert_equal` ops fails (its message is
    `mark` then a tag), raises what `explain(tag, x)` returns instead of TensorFlow's
    `InvalidArgumentError` (`x`: the first compared value, as text).

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


def probe_function(backend):
    """A backend function of `backend` (a Keras backend module) built in a throwaway
    graph and a throwaway default session: building one leaves nothing in the user's
    graph, and Keras 2.3.1's `K.function` asks `get_session()` for the default session
    (keras/backend/tensorflow_backend.py, `v1_variable_initialization`), which would
    otherwise replace Keras' global session by one for this graph, so the user's next
    run would get a new session with none of its variables initialised."""
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default(), tf_v1().Session(graph=graph).as_default() as session:
        try:
            return backend.function([], [tf.constant(0)])
        finally:
            session.close()


def keras_fit_validates(validation_data=None, validation_split=0., validation_steps=None):
    """Whether standalone Keras' `Model.fit` will validate, by keras/engine/
    training.py's own rule: non-empty `validation_data`, `0 < validation_split < 1`,
    or `validation_steps`."""
    if validation_data is not None and len(validation_data):
        return True
    if validation_split and 0. < validation_split < 1.:
        return True
    return bool(validation_steps)


class Family(object):
    """One Keras, as the capture sees it. Subclasses: `standalone.Standalone` (and one
    small subclass per release) and `tf_keras.TfKeras115`.

    # Attributes
        stack: `'keras'` or `'tf.keras'`.
        versions: the releases of this family (`keras.__version__` values).
        function_parts: what a backend function is built from.
        session_callable_state: what a backend function caches of its session
            callable (empty where it caches none).
        validation_argument: the name of the `fit_loop` owner's validation function
            parameter (`None` where `fit` validates through `model.test_function`).
        fit_captures_by_window: whether `fit` validates through `model.test_function`,
            read when it validates, rather than a function handed to a `fit_loop`.
        accuracy_name: the name Keras logs `compile(metrics=['accuracy'])` under.
    """

    stack = None
    versions = ()
    function_parts = FUNCTION_PARTS
    session_callable_state = SESSION_CALLABLE_STATE
    validation_argument = None
    fit_captures_by_window = False
    accuracy_name = 'acc'

    def __init__(self):
        self._function_internals_present = False

    def __repr__(self):
        return '<%s family %s>' % (self.stack, '/'.join(self.versions))

    # ----------------------------------------------------------- the backend

    def backend(self):
        """This Keras' backend module (`K`)."""
        raise NotImplementedError

    def session(self):
        """The TensorFlow session this Keras runs its models in (`K.get_session()`,
        public in both stacks)."""
        return self.backend().get_session()

    def is_tensor(self, value):
        """Whether a fed value is a symbolic tensor rather than data: tensorflow/
        python/framework/tensor_util.py's `is_tensor` (what Keras 2.2's wraps; the
        public `tf.is_tensor` appeared in TensorFlow 1.13)."""
        from tensorflow.python.framework import tensor_util
        return tensor_util.is_tensor(value)

    def session_arguments(self, function):
        """The `K.function` keyword arguments that rebuild `function`'s session run;
        keras/backend/tensorflow_backend.py, `Function.__init__` (`session_kwargs`)."""
        return dict(function.session_kwargs)

    def carry_fetch_callbacks(self, stock, function):
        """A `Function` without per-fetch callbacks: nothing to carry."""

    def sibling_arguments(self, stock):
        """The `K.function` keyword arguments a sibling of `stock` takes besides its
        feeds, outputs, updates, name and feed_dict: the user's `fetches` and the
        session arguments."""
        return dict(self.session_arguments(stock), fetches=list(stock.fetches))

    def sibling(self, stock, function):
        """`function`, built as a sibling of `stock`, with what it carries over."""
        self.carry_fetch_callbacks(stock, function)
        return function

    def function_like(self, stock, extra_outputs, name_suffix):
        """A backend function with `stock`'s feeds, updates, feed_dict, user `fetches`
        and session arguments, returning `stock`'s outputs and then `extra_outputs`.

        keras/backend/tensorflow_backend.py, `Function.__init__` (`updates_op`,
        `feed_dict`, `fetches`, `session_kwargs`).
        """
        function = self.backend().function(
            stock.inputs,
            list(stock.outputs) + list(extra_outputs),
            updates=[stock.updates_op],
            name=(getattr(stock, 'name', None) or 'function') + name_suffix,
            feed_dict=stock.feed_dict,
            **self.sibling_arguments(stock))
        return self.sibling(stock, function)

    def function_fetches(self, function):
        """The extra ops a backend function runs (`Function.fetches`, from
        `compile(fetches=...)`); keras/backend/tensorflow_backend.py, `Function.__init__`."""
        return list(function.fetches)

    def callable_state(self, function):
        """What `Function._call` cached about its session callable, as a tuple.

        keras/backend/tensorflow_backend.py, `Function._make_callable` / `Function._call`.
        """
        return tuple(getattr(function, name, None) for name in self.session_callable_state)

    def set_function_fetches(self, function, fetches, callable_state=None):
        """Sets a built backend function's `fetches`, with the session callable cached
        for that fetch list (`callable_state`), or none so `Function._call` makes a new
        one.

        keras/backend/tensorflow_backend.py, `Function._call` (re-makes the callable
        when `_callable_fn` is None).
        """
        function.fetches = list(fetches)
        names = self.session_callable_state
        if callable_state is None:
            if names:  # Keras 2.1 caches no callable
                function._callable_fn = None
        else:
            for name, value in zip(names, callable_state):
                setattr(function, name, value)

    # ------------------------------------------------------------ the model

    def compiled_model(self, model):
        """The model object that holds `model`'s compiled train/test functions and runs
        its training loops: keras/engine/training.py, `Model.compile`: a model compiles
        itself."""
        return model

    def built_test_function(self, model):
        """`model.test_function`, built first if needed; keras/engine/training.py,
        `Model._make_test_function`."""
        model = self.compiled_model(model)
        model._make_test_function()
        return model.test_function

    def assert_compiled(self, model):
        """Raises Keras' own error for an uncompiled model, where `_make_train_function`
        would not (see `TfKeras115`)."""

    def built_train_function(self, model):
        """`model.train_function`, built first if needed; keras/engine/training.py,
        `Model._make_train_function`."""
        model = self.compiled_model(model)
        if getattr(model, 'train_function', None) is None:
            self.assert_compiled(model)
            model._make_train_function()
        return model.train_function

    def test_function_set_on(self, model):
        """The test function set on this model object itself (not a class default)."""
        return self.compiled_model(model).__dict__.get('test_function')

    def set_test_function(self, model, function):
        """keras/engine/training.py: `test_on_batch`, `evaluate` and `fit` read
        `model.test_function` at call time."""
        self.compiled_model(model).test_function = function

    def model_targets(self, model):
        """The target tensor of each output (`None` where an output has none);
        keras/engine/training.py, `Model.compile` (`self.targets`)."""
        return list(getattr(model, 'targets', None) or [])

    def model_sample_weights(self, model):
        """The sample-weight tensor of each output; keras/engine/training.py,
        `Model.compile` (`self.sample_weights`)."""
        return list(getattr(model, 'sample_weights', None) or [])

    def check_capture_mode(self, model):
        """Raises unless `model` can capture in the mode it will run in (see
        `TfKeras115.unsupported_mode`). Called only when something asks for capture.

        # Raises
            ValueError: In case the model would run in a mode without capture.
        """

    def fit_validates(self, validation_data=None, validation_split=0.,
                      validation_steps=None):
        """Whether `Model.fit` will validate, by this Keras' own rule."""
        return keras_fit_validates(validation_data, validation_split, validation_steps)

    def fit_hands_to_fit_generator(self, x):
        """Whether `Model.fit(x, ...)` trains `x` by calling `self.fit_generator` (a
        generator or `Sequence` on Keras >= 2.2.5), so its validation runs there."""
        return False

    # --------------------------------------------------- patching and checks

    def unavailable(self):
        """Why this family cannot be patched here (a version, a backend), or `None`."""
        return None

    def require(self, user):
        """Raises unless this family is supported here: what `user` (a method or a
        callback asking for capture) says at the start of its call on a Keras that
        `install()` left alone.

        # Raises
            RuntimeError: In case it is not, naming what was found and what is supported.
        """
        reason = self.unavailable()
        if reason is not None:
            raise RuntimeError('%s: %s' % (user, reason))

    def patch_owners(self):
        """The objects whose attributes the run-time patch replaces, by role:

        - `model`: the class with `fit`/`evaluate`/`fit_generator`/`evaluate_generator`;
        - `forwarding_models`: classes that define those four methods again only to
          forward them to an inner model (Keras 2.1's `Sequential`), patched the same
          way;
        - `fit_loop`: `(owner, name)` of the loop `Model.fit` hands its validation
          function to, looked up at call time (families without
          `fit_captures_by_window`); `test_function_builder`: `(owner, name)` of what
          builds `model.test_function` (families with it);
        - `callbacks`: the module holding `History`/`CSVLogger`/`RemoteMonitor`;
        - `tensorboard`: `(TensorBoard class, name of the method that writes epoch
          logs as summaries)`; `tensorboard_v2` likewise where there is a second one.
        """
        raise NotImplementedError

    def generator_method(self, make):
        """`make`, adapted to the decorator this Keras puts on `fit_generator`/
        `evaluate_generator` (none here)."""
        return make

    def function_internals(self):
        """`(name, present)` pairs of what reaching into a built backend function needs
        (`BatchPredictions` too)."""
        function = probe_function(self.backend())
        prefix = self.backend_function_name + '.'
        required = [(prefix + name, lambda name=name: hasattr(function, name))
                    for name in self.function_parts + self.session_callable_state]
        return required + [
            ('tensorflow Session._make_callable_from_options',
             lambda: hasattr(tf_v1().Session, '_make_callable_from_options'))]

    #: How messages name this family's backend function class.
    backend_function_name = 'keras.backend.tensorflow_backend.Function'

    def internals(self):
        """`(name, present)` pairs of every private attribute this family relies on."""
        raise NotImplementedError

    def missing_internals(self):
        """The names of the private attributes this family relies on that the imported
        libraries lack (Horovod's too, when its Keras callbacks are imported)."""
        from . import horovod_keras as horovod
        return [name for name, present in self.internals() + horovod.internals()
                if not present()]

    def check(self):
        """Verifies that every private attribute this family relies on exists.

        # Raises
            RuntimeError: In case any is missing, naming each one.
        """
        missing = self.missing_internals()
        if missing:
            raise RuntimeError(missing_message(missing))

    def check_train_function_access(self, user):
        """What `user` (a class reaching into the built train function) needs: a
        supported release and the backend function's internals; probed once per family.

        # Raises
            RuntimeError: In case this Keras is not supported here, or an attribute is
                missing, naming the version or the attributes.
        """
        if self._function_internals_present:
            return  # libraries do not change under a running process
        self.require(user)
        missing = [name for name, present in self.function_internals() if not present()]
        if missing:
            raise RuntimeError('%s: %s' % (user, missing_message(missing)))
        self._function_internals_present = True


class GraphExecution(object):
    """What a family whose `K.function` is tensorflow/python/keras/backend.py's
    `GraphExecutionFunction` shares (standalone Keras 2.3.1 and tf.keras 1.15): it
    keeps `options`/`run_metadata` apart, caches its fetch list (`_fetches`) and has
    per-fetch callbacks. A mixin in front of `Family`."""

    session_callable_state = SESSION_CALLABLE_STATE + ('_fetches',)

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
