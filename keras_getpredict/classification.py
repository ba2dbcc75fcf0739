"""Documented import path; the code lives in `keras_getpredict.analysis.class_metrics`
(which also holds the metrics from counts, not exported here)."""
from __future__ import absolute_import

from .analysis.class_metrics import (AVERAGES, REQUIRES, SCALAR_NAMES, TASKS,  # noqa: F401
                                     ClassificationMetrics, PreparedOutput,
                                     check_class_names, check_task, classification_metrics,
                                     prepare_output)
