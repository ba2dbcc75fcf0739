"""Documented import path of the predictions files; the code lives in
`keras_getpredict.analysis.files` (the `.npz` format of predictions and counts).

`PredictionSaver` is in `keras_getpredict.callbacks`: importing this module
imports neither TensorFlow nor Keras.
"""
from __future__ import absolute_import

from .analysis.files import *  # noqa: F401,F403
from .analysis.files import (CountsFile, PredictionFile, load_predictions,  # noqa: F401
                             prediction_arrays, save_predictions)
