"""The Keras the tests build their models with: standalone Keras, or TensorFlow 1.15's tf.keras.

`KERAS_GETPREDICT_STACK=tf.keras` (set by the `tfkeras` and `tfkeras-beside-keras` sessions)
runs the contract tests on tf.keras; unset, they use standalone Keras where it is importable,
else tf.keras. Test files import Keras names from here, never `keras` itself, unless they
test standalone Keras only (marked `standalone`: conftest skips them on tf.keras).
"""
import importlib
import os
import sys

import numpy as np
import pytest

from keras_getpredict.core.families import STACKS, STANDALONE, TF_KERAS as TF_KERAS_STACK


def _chosen():
    wanted = os.environ.get('KERAS_GETPREDICT_STACK', '')
    if wanted and wanted not in STACKS:
        raise ValueError('KERAS_GETPREDICT_STACK should be one of %s; got %r.'
                         % (', '.join(STACKS), wanted))
    if wanted:
        return wanted
    try:
        importlib.import_module('keras')
    except ImportError:
        return TF_KERAS_STACK
    return STANDALONE


STACK = _chosen()
TF_KERAS = STACK == TF_KERAS_STACK
if TF_KERAS:
    from tensorflow import keras
else:
    import keras

K = keras.backend


def clear_sessions():
    """A fresh graph and session for the tests' Keras and, when a test imported it beside
    tf.keras, for standalone Keras: its `get_session()` keeps its global session across a
    graph reset by tf.keras, so a model built afterwards would run in the old graph."""
    if TF_KERAS and 'keras' in sys.modules:
        sys.modules['keras'].backend.clear_session()
    K.clear_session()


# What stock tf.keras 1.15 does differently, that a test of the same contract must allow:
#: `fit` shuffles validation arrays (training_arrays.py, `model_iteration`'s default
#: `shuffle=True`), so the captured rows come as a permutation, still aligned.
FIT_SHUFFLES_VALIDATION_ARRAYS = TF_KERAS
#: Marks a test of standalone Keras alone (its versions, adapters or legacy API):
#: pytest.ini's `standalone` marker, which conftest skips on tf.keras.
standalone_only = pytest.mark.standalone
#: Its TensorBoard writes each epoch's logs under `epoch_<key>`.
TENSORBOARD_EPOCH_TAG = 'epoch_%s' if TF_KERAS else '%s'
optimizers = keras.optimizers
metrics = keras.metrics
SGD = keras.optimizers.SGD
Sequence = keras.utils.Sequence
Model = keras.models.Model
Sequential = keras.models.Sequential
load_model = keras.models.load_model
Layer = keras.layers.Layer
Input = keras.layers.Input
Dense = keras.layers.Dense
Dropout = keras.layers.Dropout
Add = keras.layers.Add
Lambda = keras.layers.Lambda
Activation = keras.layers.Activation
Reshape = keras.layers.Reshape
Conv2D = keras.layers.Conv2D
Flatten = keras.layers.Flatten
Callback = keras.callbacks.Callback
LambdaCallback = keras.callbacks.LambdaCallback
ModelCheckpoint = keras.callbacks.ModelCheckpoint
CSVLogger = keras.callbacks.CSVLogger
EarlyStopping = keras.callbacks.EarlyStopping
ReduceLROnPlateau = keras.callbacks.ReduceLROnPlateau
TensorBoard = keras.callbacks.TensorBoard
History = keras.callbacks.History


def validation_order(seen):
    """`seen` (sample indexes in captured order) as the test compares them with the
    data's order: sorted where stock `fit` shuffles validation arrays."""
    return sorted(seen) if FIT_SHUFFLES_VALIDATION_ARRAYS else list(seen)


def tensorboard_tag(key):
    """The scalar tag stock TensorBoard writes for the epoch log `key`."""
    return TENSORBOARD_EPOCH_TAG % key


def validation_rows(captured, reference, rtol=0.):
    """Where each row of `captured` (validation data as `fit` captured it) is in
    `reference` (rows distinct): `range(len(reference))`, or a permutation of it where
    stock `fit` shuffles validation arrays. Fails unless every row is captured once."""
    reference = np.asarray(reference)
    flat = reference.reshape(len(reference), -1)
    rows = [int(np.flatnonzero(np.isclose(flat, row, rtol=rtol, atol=0.).all(axis=1))[0])
            for row in np.asarray(captured).reshape(len(captured), -1)]
    assert sorted(rows) == list(range(len(reference))), rows
    assert validation_order(rows) == list(range(len(reference))), rows
    return rows
