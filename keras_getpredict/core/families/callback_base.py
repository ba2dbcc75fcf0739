"""The base of keras-getpredict's own callbacks, which run in a `fit` of either stack."""
from __future__ import absolute_import


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
