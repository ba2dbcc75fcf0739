"""Documented import path; the code lives in `keras_getpredict.analysis.class_metrics`."""
from __future__ import absolute_import

from .analysis.class_metrics import *  # noqa: F401,F403
from .analysis.class_metrics import ClassificationMetrics, classification_metrics  # noqa: F401
