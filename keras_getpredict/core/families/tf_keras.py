"""tf.keras of TensorFlow 1.15 (`tensorflow.python.keras`, Keras 2.2.4-tf) in graph
mode with its v1 training loops.

Not vendored into the fork (`patches/fork.sh vendor` skips it): the fork is
standalone Keras 2.2.4.
"""
from __future__ import absolute_import

from .base import TF_KERAS, Family, GraphExecution

#: tf.keras releases the run-time patch supports: TensorFlow 1.15's, outside TF 2
#: behaviour (tensorflow/python/keras/__init__.py says '2.3.0-tf' under `TF2_BEHAVIOR`).
SUPPORTED_TF_KERAS = ('2.2.4-tf',)
#: The TensorFlow releases whose tf.keras is supported.
SUPPORTED_TENSORFLOW = ('1.15',)


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


class TfKeras115(GraphExecution, Family):
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
    versions = SUPPORTED_TF_KERAS
    function_parts = ('inputs', 'outputs', 'updates_op', 'feed_dict', 'fetches',
                      'fetch_callbacks', 'run_options', 'run_metadata')
    fit_captures_by_window = True
    backend_function_name = 'tensorflow.python.keras.backend.GraphExecutionFunction'
    supported_mode = ('tf.keras in graph mode with the v1 training loops (TensorFlow 1.15\'s '
                      'default: no tf.compat.v1.enable_v2_behavior(), no '
                      'tf.compat.v1.enable_eager_execution(), no run_eagerly, no '
                      'tf.distribute strategy)')

    def backend(self):
        from tensorflow.python.keras import backend as K
        return K

    def found(self):
        """`(TensorFlow version, tf.keras version)` of the imported TensorFlow."""
        import tensorflow as tf
        from tensorflow.python import keras
        return tf.__version__, getattr(keras, '__version__', None)

    def unavailable(self):
        tensorflow, version = self.found()
        if '.'.join(tensorflow.split('.')[:2]) not in SUPPORTED_TENSORFLOW or \
                version not in SUPPORTED_TF_KERAS:
            return ('keras_getpredict supports the tf.keras of TensorFlow %s (Keras %s, '
                    'TensorFlow 1 behaviour); found TensorFlow %s, tf.keras %s.'
                    % (', '.join(SUPPORTED_TENSORFLOW), ', '.join(SUPPORTED_TF_KERAS),
                       tensorflow, version))
        return None

    def assert_compiled(self, model):
        """tf.keras' `_make_train_function` would fail on a missing attribute first:
        its `_assert_compile_was_called` (tensorflow/python/keras/engine/training.py)
        runs before, as its `fit` does."""
        model._assert_compile_was_called()

    def model_targets(self, model):
        """engine/training.py, `Model._targets` without skipping: one
        `_TrainingEndpoint` per output, its `training_target.target` (or none)."""
        return [endpoint.training_target.target if endpoint.has_training_target() else None
                for endpoint in getattr(model, '_training_endpoints', None) or []]

    def fit_validates(self, validation_data=None, validation_split=0.,
                      validation_steps=None):
        """engine/training_arrays.py, `ArrayLikeTrainingLoop.fit`: `if validation_data:`,
        which a Dataset, generator or `Sequence` (no `len`) passes too, or `0 <
        validation_split < 1` (a numpy array there would be ambiguous: Keras raises on
        it itself)."""
        if validation_data is not None and not isinstance(validation_data, (tuple, list)):
            return True
        if validation_data:
            return True
        return bool(validation_split and 0. < validation_split < 1.)

    def sibling_arguments(self, stock):
        """The session arguments only: the sibling runs the stock's fetches of the
        moment (`sibling`)."""
        return self.session_arguments(stock)

    def sibling(self, stock, function):
        """`_FetchFollowingFunction`: the stock's fetches and fetch callbacks of the
        moment, at every call."""
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

    def check_capture_mode(self, model):
        reason = self.unsupported_mode(model)
        if reason is not None:
            raise ValueError('`get_predict` works with %s; here %s.'
                             % (self.supported_mode, reason))

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

    def internals(self):
        import inspect
        from tensorflow.python.eager import def_function
        from tensorflow.python.keras import callbacks, callbacks_v1
        from tensorflow.python.keras.engine import training

        def assigns(function, name):
            # The Keras code still sets that attribute on the model.
            code = getattr(inspect.unwrap(function), '__code__', None)
            return code is not None and name in code.co_names

        endpoint = getattr(training, '_TrainingEndpoint', None)
        prefix = 'tensorflow.python.keras.'
        return self.function_internals() + [
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
