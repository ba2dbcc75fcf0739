"""Documented import path; the code lives in `keras_getpredict.analysis.prediction_files`
and `keras_getpredict.callbacks.prediction_saver`."""
from __future__ import absolute_import

from .analysis.prediction_files import *  # noqa: F401,F403
from .analysis.prediction_files import (PredictionFile, load_predictions,  # noqa: F401
                                        prediction_arrays, save_predictions)
from .callbacks.prediction_saver import PredictionSaver  # noqa: F401
