"""Documented import path; the code lives in `keras_getpredict.analysis.prediction_files`.

`PredictionSaver` is in `keras_getpredict.callbacks`: importing this module
imports neither TensorFlow nor Keras.
"""
from __future__ import absolute_import

from .analysis.prediction_files import *  # noqa: F401,F403
from .analysis.prediction_files import (PredictionFile, load_predictions,  # noqa: F401
                                        prediction_arrays, save_predictions)
