"""`StreamingMetrics`: per-class IoU, Dice, precision, recall, F1 and ROC AUC from the
reducing mode's counts, into the epoch logs.

With `get_predict={'reduce': {...}}` the validation set is never held in memory:
each batch is folded into a confusion matrix and score histograms (`core/streaming.py`).
This callback turns those counts into scalars in `on_predictions_published`, so
`TensorBoard`, `CSVLogger`, `EarlyStopping` and `ModelCheckpoint` see them that epoch.
"""
from __future__ import absolute_import

import numpy as np
import six

from ..analysis import count_metrics
from ..analysis.key_names import safe_key
from ..core.results import LOGS_KEY
from ..core.streaming import is_streaming
from .predictions_callback import PredictionsCallback

#: Per-class arrays written with `per_class=True`.
PER_CLASS_NAMES = ('iou', 'dice', 'precision', 'recall', 'roc_auc')
#: Scalars written every epoch.
SCALAR_NAMES = ('mean_iou', 'mean_dice', 'count_accuracy')


class StreamingMetrics(PredictionsCallback):
    """Validation metrics in constant memory, from `get_predict['reduce']` counts.

    Writes into the epoch logs `<prefix>mean_iou`, `<prefix>mean_dice`,
    `<prefix>count_accuracy` (correct samples or pixels over all counted) and, with
    score histograms, `<prefix>mean_roc_auc`; with `per_class=True` also
    `<prefix>{iou,dice,precision,recall,roc_auc}_<class name>`. With several
    counted outputs the output name follows the prefix: `val_<output>_mean_iou`.
    Undefined values (a class absent from labels and predictions) are NaN.

    # Arguments
        class_names: list of `num_classes` distinct names; default `0`, `1`, ...
        per_class: also log the per-class values.
        prefix: start of every key; `'val_'` by default.

    # Attributes
        last_results: output name -> `OrderedDict` of `count_metrics.output_metrics`
            of the last epoch (`None` before the first).

    # Raises
        TypeError: In case `class_names` is not a list of strings or `prefix` not
            a string.
        ValueError: At the first epoch, in case the logs hold full predictions
            rather than counts (pass `get_predict={'reduce': ...}`), or
            `class_names` does not have `num_classes` names.

    # Example
    ```python
    model.fit_generator(train, steps, epochs=10, validation_data=val,
                        get_predict={'reduce': {'num_classes': 21, 'bins': 200}},
                        callbacks=[StreamingMetrics(per_class=True), TensorBoard('logs')])
    ```
    """

    missing_advice = (", so it computes nothing. Pass `get_predict={'reduce': "
                      "{'num_classes': C}}` and validation data.")

    def __init__(self, class_names=None, per_class=True, prefix='val_'):
        super(StreamingMetrics, self).__init__()
        if class_names is not None:
            if not isinstance(class_names, (list, tuple)) or not all(
                    isinstance(n, six.string_types) for n in class_names):
                raise TypeError('`class_names` should be a list of strings; got %r.'
                                % (class_names,))
            if len(set(class_names)) != len(class_names):
                raise ValueError('`class_names` repeats a name: %r.' % (class_names,))
        if not isinstance(prefix, six.string_types):
            raise TypeError('`prefix` should be a string such as %r; got %r.' % ('val_', prefix))
        self.class_names = None if class_names is None else list(class_names)
        self.per_class = per_class
        self.prefix = prefix
        self.last_results = None

    def validate(self, counts):
        if not is_streaming(counts):
            raise ValueError("StreamingMetrics needs the reducing mode's counts in "
                             "`logs['%s']`; got full predictions. Pass `get_predict="
                             "{'reduce': {'num_classes': C}}`, or use EpochMetrics."
                             % LOGS_KEY)
        if self.class_names is not None and len(self.class_names) != counts.spec.num_classes:
            raise ValueError('`class_names` has %d names but `num_classes` is %d.'
                             % (len(self.class_names), counts.spec.num_classes))

    def scalars(self, counts):
        """The logs entries of `counts` (a `StreamingCounts`), and sets `last_results`."""
        names = self.class_names or [str(i) for i in range(counts.spec.num_classes)]
        values, results = {}, {}
        several = len(counts.output_names) > 1
        for output in counts.output_names:
            result = results[output] = count_metrics.output_metrics(counts[output])
            start = self.prefix + (safe_key(output) + '_' if several else '')
            values[start + 'mean_iou'] = result['mean_iou']
            values[start + 'mean_dice'] = result['mean_dice']
            values[start + 'count_accuracy'] = result['accuracy']
            if 'roc_auc' in result:
                auc = result['roc_auc']
                values[start + 'mean_roc_auc'] = (float(np.nanmean(auc))
                                                  if np.isfinite(auc).any() else np.nan)
            if self.per_class:
                for metric in PER_CLASS_NAMES:
                    if metric in result:
                        for name, value in zip(names, result[metric]):
                            values['%s%s_%s' % (start, metric, safe_key(name))] = value
        self.last_results = results
        return values

    def on_predictions_published(self, epoch, logs):
        self.log_once_per_epoch(epoch, logs, self._log)

    def on_epoch_end(self, epoch, logs=None):
        self.log_once_per_epoch(epoch, logs, self._log)

    def _log(self, epoch, logs):
        counts = self.predictions_in(logs)
        if counts is None:
            return
        self.validate_once(counts)
        values = self.run_analysis('computing the streaming metrics of epoch %d'
                                   % (epoch + 1), self.scalars, counts)
        if values is not None:
            logs.update((k, np.float64(v)) for k, v in values.items())
