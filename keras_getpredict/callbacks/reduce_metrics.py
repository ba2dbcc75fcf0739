"""`ReduceMetrics`: per-class IoU, Dice, precision, recall, F1 and ROC AUC from the
reducing mode's counts, into the epoch logs.

With `get_predict={'reduce': {...}}` the validation set is never held in memory:
each batch is folded into a confusion matrix and score histograms (`core/reduce_counts.py`).
This callback turns those counts into scalars in `on_predictions_published`, so
`TensorBoard`, `CSVLogger`, `EarlyStopping` and `ModelCheckpoint` see them that epoch.
"""
from __future__ import absolute_import

import numbers

import numpy as np
import six

from ..analysis import class_metrics
from ..analysis.outputs import safe_key
from ..core.failures import ConfigurationError, ConfigurationTypeError
from ..core.results import LOGS_KEY
from ..core.reduce_counts import is_reduced
from .predictions_callback import PredictionsCallback

#: Per-class arrays written with `per_class=True`.
PER_CLASS_NAMES = ('iou', 'dice', 'precision', 'recall', 'roc_auc')
#: Scalars written every epoch.
SCALAR_NAMES = ('mean_iou', 'mean_dice', 'count_accuracy')


class ReduceMetrics(PredictionsCallback):
    """Validation metrics in constant memory, from `get_predict['reduce']` counts.

    Writes into the epoch logs `<prefix>mean_iou`, `<prefix>mean_dice`,
    `<prefix>count_accuracy` (correct samples or pixels over all counted) and, with
    score histograms, `<prefix>mean_roc_auc`; with `per_class=True` also
    `<prefix>{iou,dice,precision,recall,roc_auc}_<class name>`. With several
    counted outputs the output name follows the prefix: `val_<output>_mean_iou`.
    Undefined values (a class absent from labels and predictions) are NaN.

    It asks `fit`/`fit_generator` for the reducing mode it reads
    (`get_predict={'reduce': {'num_classes': C}}`, plus `bins` when given) as soon as
    it knows `C`, from `num_classes` or `class_names`; without either, pass
    `get_predict={'reduce': ...}` to the call yourself.

    # Arguments
        class_names: list of `num_classes` distinct names; default `0`, `1`, ...
        per_class: also log the per-class values.
        prefix: start of every key; `'val_'` by default.
        num_classes: the number of classes `C` (2 for a binary output with one
            unit); taken from `class_names` when not given.
        bins: score histogram bins per class to ask for (0: none, and no ROC
            AUC); `None` leaves it to the call (200 unless it says otherwise).

    # Attributes
        last_results: output name -> `OrderedDict` of `class_metrics.output_metrics`
            of the last epoch (`None` before the first).

    # Raises
        TypeError: In case `class_names` is not a list of strings or `prefix` not
            a string.
        ValueError: In case `num_classes` is below 2 or differs from the number
            of `class_names`, or `bins` is negative; at the first epoch, in case
            the logs hold full predictions
            rather than counts (pass `get_predict={'reduce': ...}`), or
            `class_names` does not have `num_classes` names.

    # Example
    ```python
    model.fit_generator(train, steps, epochs=10, validation_data=val,
                        callbacks=[ReduceMetrics(num_classes=21), TensorBoard('logs')])
    ```
    """

    missing_advice = (", so it computes nothing. Pass `get_predict={'reduce': "
                      "{'num_classes': C}}` and validation data.")

    def __init__(self, class_names=None, per_class=True, prefix='val_', num_classes=None,
                 bins=None):
        super(ReduceMetrics, self).__init__()
        if class_names is not None:
            if not isinstance(class_names, (list, tuple)) or not all(
                    isinstance(n, six.string_types) for n in class_names):
                raise ConfigurationTypeError(
                    '`class_names` should be a list of strings; got %r.'
                    % (class_names,))
            if len(set(class_names)) != len(class_names):
                raise ConfigurationError('`class_names` repeats a name: %r.' % (class_names,))
        if not isinstance(prefix, six.string_types):
            raise ConfigurationTypeError(
                '`prefix` should be a string such as %r; got %r.' % ('val_', prefix))
        self.class_names = None if class_names is None else list(class_names)
        self.per_class = per_class
        self.prefix = prefix
        self.last_results = None
        self.get_predict = reduce_request(num_classes, bins, self.class_names)

    def validate(self, counts):
        if not is_reduced(counts):
            raise ConfigurationError(
                "ReduceMetrics needs the reducing mode's counts in "
                "`logs['%s']`; got full predictions. Pass `get_predict="
                "{'reduce': {'num_classes': C}}`, or use EpochMetrics."
                % LOGS_KEY)
        if self.class_names is not None and len(self.class_names) != counts.spec.num_classes:
            raise ConfigurationError(
                '`class_names` has %d names but `num_classes` is %d.'
                % (len(self.class_names), counts.spec.num_classes))

    def scalars(self, counts):
        """The logs entries of `counts` (a `ReducedCounts`), and sets `last_results`."""
        names = self.class_names or [str(i) for i in range(counts.spec.num_classes)]
        values, results = {}, {}
        several = len(counts.output_names) > 1
        for output in counts.output_names:
            result = results[output] = class_metrics.output_metrics(counts[output])
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

    def log_epoch(self, epoch, logs):
        counts = self.predictions_in(logs)
        if counts is None:
            return None
        self.validate_once(counts)
        return self.run_analysis('computing the reduce metrics of epoch %d'
                                 % (epoch + 1), self.scalars, counts)


def reduce_request(num_classes, bins, class_names):
    """The `get_predict` a reducing-mode callback asks for: `{'reduce': {'num_classes':
    C}}` (and `'bins'` when given), `C` from `num_classes` or `class_names`; `None`
    when neither gives it.

    # Raises
        ValueError: In case `num_classes` is not an integer >= 2 or differs from the
            number of `class_names`, or `bins` is not an integer >= 0.
    """
    if num_classes is None and class_names is not None:
        num_classes = len(class_names)
    if num_classes is None:
        return None
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or \
            num_classes < 2:
        raise ConfigurationError(
            '`num_classes` should be an integer >= 2 (2 for a binary output '
            'with one unit); got %r.' % (num_classes,))
    if class_names is not None and len(class_names) != num_classes:
        raise ConfigurationError(
            '`class_names` has %d names but `num_classes` is %d.'
            % (len(class_names), num_classes))
    spec = {'num_classes': int(num_classes)}
    if bins is not None:
        if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 0:
            raise ConfigurationError(
                '`bins` should be an integer >= 0 (0: no score histograms); '
                'got %r.' % (bins,))
        spec['bins'] = int(bins)
    return {'reduce': spec}
