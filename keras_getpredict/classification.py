"""Documented import path; the code lives in `keras_getpredict.analysis.classification`."""
from __future__ import absolute_import

from .analysis.classification import *  # noqa: F401,F403
from .analysis.classification import ClassificationMetrics, classification_metrics  # noqa: F401
