"""`TensorBoardCounts`: per-class PR curves in TensorBoard from the reducing mode's
score histograms, without the predictions.

TensorBoard's `pr_curve` summary takes the counts at `num_thresholds` evenly spaced
thresholds `i / (num_thresholds - 1)`; the histograms of `B` bins give them exactly at
`k / B` (`class_metrics.counts_at_thresholds`), so `num_thresholds = B + 1`.
"""
from __future__ import absolute_import

import numpy as np
from tensorboard.plugins.pr_curve import summary as pr_curve_summary

from ..analysis import class_metrics
from ..analysis.outputs import safe_key
from ..core.failures import ConfigurationError
from ..core.families import tf_v1
from .reduce_metrics import ReduceMetrics
from .predictions_callback import PredictionsCallback


class TensorBoardCounts(PredictionsCallback):
    """Writes, each epoch, a PR curve per class (tag `class_<class>/pr_curves`, with
    `<output>/` in front for several outputs) from `get_predict['reduce']` counts.

    Like `ReduceMetrics`, it asks `fit`/`fit_generator` for the reducing mode
    once it knows the number of classes.

    # Arguments
        log_dir: directory of the event files (usually the `TensorBoard` callback's).
        class_names: list of `num_classes` names; default `0`, `1`, ...
        num_classes: the number of classes; taken from `class_names` when not given.
        bins: score histogram bins per class to ask for (the PR curves' thresholds);
            `None` leaves it to the call (200 unless it says otherwise).

    # Raises
        ValueError: At the first epoch, in case the logs hold full predictions or
            counts without histograms (`bins=0`), or `class_names` does not fit.

    # Example
    ```python
    callbacks = [TensorBoard(log_dir), ReduceMetrics(), TensorBoardCounts(log_dir)]
    ```
    """

    missing_advice = ReduceMetrics.missing_advice

    def __init__(self, log_dir, class_names=None, num_classes=None, bins=None):
        super(TensorBoardCounts, self).__init__()
        self._checker = ReduceMetrics(class_names=class_names, num_classes=num_classes,
                                      bins=bins)
        self.get_predict = self._checker.get_predict
        self.log_dir = log_dir
        self.class_names = class_names
        self.writer = None

    def validate(self, counts):
        self._checker.validate(counts)
        if not counts.spec.bins:
            raise ConfigurationError(
                "TensorBoardCounts needs score histograms: pass `get_predict="
                "{'reduce': {..., 'bins': 200}}` (bins > 0).")

    def on_epoch_end(self, epoch, logs=None):
        counts = self.predictions_in(logs or {})
        if counts is None:
            return
        self.validate_once(counts)
        if self.writer is None:
            self.writer = tf_v1().summary.FileWriter(self.log_dir, filename_suffix='.counts')
        self.run_analysis('writing the TensorBoard PR curves of epoch %d' % (epoch + 1),
                          self._write_epoch, counts, epoch)

    def summaries(self, counts):
        """The `tf.Summary` protos of one epoch's `ReducedCounts`."""
        names = self.class_names or [str(i) for i in range(counts.spec.num_classes)]
        several = len(counts.output_names) > 1
        for output in counts.output_names:
            start = safe_key(output) + '/' if several else ''
            for k, name in enumerate(names):
                positives, negatives = counts[output].positives[k], counts[output].negatives[k]
                tp, fp = class_metrics.counts_at_thresholds(positives, negatives)
                fn, tn = tp[0] - tp, fp[0] - fp
                with np.errstate(divide='ignore', invalid='ignore'):
                    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1.), 1.)
                    recall = np.where(tp[0] > 0, tp / max(tp[0], 1.), 0.)
                yield pr_curve_summary.raw_data_pb(
                    '%sclass_%s' % (start, safe_key(name)), tp, fp, tn, fn,
                    precision, recall, num_thresholds=len(tp),
                    display_name='%sclass %s' % (start, name))

    def _write_epoch(self, counts, epoch):
        # Built before the first is written: a failure leaves no partial epoch.
        for summary in list(self.summaries(counts)):
            self.writer.add_summary(summary, epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
