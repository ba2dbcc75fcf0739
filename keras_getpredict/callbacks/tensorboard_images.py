"""`TensorBoardPredictions`: PR curves and a confusion-matrix image per epoch.

PR curves use TensorBoard 1.15's own `pr_curve` summary (its PR CURVES tab), the
confusion matrix its `image` summary (IMAGES tab). Both are built from numpy values
(`summary.pb`), so nothing is added to the model's graph.
"""
from __future__ import absolute_import

import numpy as np
from tensorboard.plugins.image import summary as image_summary
from tensorboard.plugins.pr_curve import summary as pr_curve_summary

from ..analysis import plots
from ..analysis.optional_deps import require
from ..analysis.outputs import safe_key
from ..core.failures import ConfigurationError, ConfigurationTypeError
from ..core.families import tf_v1
from .epoch_metrics import EpochMetrics
from .predictions_callback import PredictionsCallback


class TensorBoardPredictions(PredictionsCallback):
    """Writes, each epoch, a precision-recall curve per class and a confusion-matrix
    image of the validation predictions to TensorBoard event files.

    Tags: `class_<class>/pr_curves` (PR CURVES tab) and
    `confusion_matrix/image_summary` (IMAGES tab), with `<output>/` in front when
    several outputs are computed. The event file sits in `log_dir` next to
    the `TensorBoard` callback's, so both show up as one run.

    # Arguments
        log_dir: directory of the event files (usually the `TensorBoard` callback's).
        metrics: the `EpochMetrics` whose outputs, task, threshold and class
            names to use (its results are reused, not recomputed); `None` builds
            a silent one with default settings.
        num_thresholds: thresholds per PR curve (TensorBoard's default is 201).
        pr_curves: write PR curves.
        confusion_matrix: write the confusion-matrix image.

    # Raises
        TypeError: In case `metrics` is not an `EpochMetrics`.
        ValueError: In case `num_thresholds` is below 2 (at construction), or
            the first epoch's predictions do not fit the settings of `metrics`.
            Later, an error while drawing or writing warns once and training
            goes on (see `core/failures.py`).
        ImportError: In case scikit-learn, or matplotlib for the confusion
            matrix, is not installed.

    # Example
    ```python
    metrics = EpochMetrics(class_names=names)
    callbacks = [TensorBoard(log_dir), metrics, TensorBoardPredictions(log_dir, metrics)]
    ```
    """

    def __init__(self, log_dir, metrics=None, num_thresholds=101, pr_curves=True,
                 confusion_matrix=True):
        super(TensorBoardPredictions, self).__init__()
        if metrics is not None and not isinstance(metrics, EpochMetrics):
            raise ConfigurationTypeError(
                '`metrics` should be an `EpochMetrics` callback or None; got %s.'
                % type(metrics).__name__)
        if isinstance(num_thresholds, bool) or int(num_thresholds) < 2:
            raise ConfigurationError(
                '`num_thresholds` should be at least 2; got %r.' % num_thresholds)
        if confusion_matrix:
            require(*plots.REQUIRES)
        self.log_dir = log_dir
        self.metrics = metrics if metrics is not None else EpochMetrics(verbose=0)
        # The full predictions of the outputs `metrics` computes.
        self.get_predict = self.metrics.get_predict
        self.num_thresholds = int(num_thresholds)
        self.pr_curves = pr_curves
        self.confusion_matrix = confusion_matrix
        self.writer = None

    def on_train_begin(self, logs=None):
        super(TensorBoardPredictions, self).on_train_begin(logs)
        self._open_writer()

    def _open_writer(self):
        if self.writer is None:
            self.writer = tf_v1().summary.FileWriter(self.log_dir, filename_suffix='.predictions')

    def validate(self, gts_and_preds):
        self.metrics.validate_once(gts_and_preds)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        gts_and_preds = self.predictions_in(logs)
        if gts_and_preds is None:
            return
        self.validate_once(gts_and_preds)
        self._open_writer()
        self.run_analysis('writing the TensorBoard pictures of epoch %d' % (epoch + 1),
                          self._write_epoch, gts_and_preds, epoch)

    def _write_epoch(self, gts_and_preds, epoch):
        results = self.metrics.results_for(gts_and_preds)
        several = len(results) > 1
        # Every summary of the epoch is built before the first is written: a failure
        # leaves the event file without this epoch rather than with part of it.
        summaries = []
        for output, result in results.items():
            start = safe_key(output) + '/' if several else ''
            title = 'Confusion matrix, %sepoch %d' % (
                "output '%s', " % output if several else '', epoch + 1)
            summaries.extend(self.summaries(result, start, title))
        for summary in summaries:
            self.writer.add_summary(summary, epoch)
        self.writer.flush()

    def summaries(self, result, start='', title='Confusion matrix'):
        """The `tf.Summary` protos for one output's `ClassificationMetrics`."""
        if self.pr_curves:
            for k, name in enumerate(result.class_names):
                yield pr_curve_summary.pb(
                    '%sclass_%s' % (start, safe_key(name)),
                    labels=result.labels[:, k].astype(bool),
                    predictions=np.clip(result.scores[:, k], 0.0, 1.0).astype('float32'),
                    num_thresholds=self.num_thresholds,
                    display_name='%sclass %s' % (start, name))
        if self.confusion_matrix:
            pixels = plots.figure_to_rgb(plots.confusion_matrix_figure(result, title))
            yield image_summary.pb('%sconfusion_matrix' % start, pixels[None], max_outputs=1)

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
