"""`EpochMetrics`: per-class metrics over the whole validation set, into the epoch logs.

Batch-wise Keras metrics average per-batch values; precision, recall and F1 must be
computed once over every validation sample. This callback does that from
`logs['val_gts_and_preds']` (so `get_predict` must be on) and writes the scalars into
the epoch logs, where `History`, `CSVLogger`, `TensorBoard`, `EarlyStopping` and
`ModelCheckpoint` find them.

It computes in `on_predictions_published`, which keras-getpredict calls right after
it puts the predictions into the logs and before any other callback's `on_epoch_end`:
a `TensorBoard` placed before it in the list still writes its scalars that epoch.
"""
from __future__ import absolute_import

import re
import sys
import warnings
from collections import OrderedDict

import numpy as np
import six
from keras.callbacks import Callback

from ..analysis.classification import classification_metrics
from ..core.results import LOGS_KEY, concat_batches

PER_CLASS_NAMES = ('precision', 'recall', 'f1')


def _per_output(value, output):
    """`value`, or `value[output]` when `value` is a dict keyed by output name."""
    if isinstance(value, dict):
        return value.get(output)
    return value


def _safe(name):
    return re.sub(r'[^A-Za-z0-9_.\-]', '_', str(name))


def split_outputs(gts_and_preds, outputs=None):
    """Flattens the predictions and picks the outputs to compute metrics on.

    # Arguments
        gts_and_preds: the value of `logs['val_gts_and_preds']`.
        outputs: `None` (every captured output that has targets), an output
            name, or a list of names.

    # Returns
        An `OrderedDict` of output name to `(y_true, y_pred)` arrays.

    # Raises
        ValueError: In case a name is not among the captured outputs, or an
            output has no targets.
    """
    flat = concat_batches(gts_and_preds)
    names = list(getattr(gts_and_preds, 'output_names', None) or [])
    if isinstance(flat['y_pred'], list):
        pairs = list(zip(flat['y_true'], flat['y_pred']))
        if len(names) != len(pairs):
            names = ['output_%d' % i for i in range(len(pairs))]
    else:
        pairs = [(flat['y_true'], flat['y_pred'])]
        names = names[:1] or ['output']
    by_name = OrderedDict(zip(names, pairs))
    if outputs is None:
        chosen = [n for n in names if by_name[n][0] is not None]
        if not chosen:
            raise ValueError('None of the captured outputs %s has targets (y_true), so no '
                             'metrics can be computed.' % names)
    else:
        chosen = [outputs] if isinstance(outputs, six.string_types) else list(outputs)
        unknown = [n for n in chosen if n not in by_name]
        if unknown:
            raise ValueError('`outputs` names %s, but the predictions hold the outputs %s. '
                             'Capture them with `get_predict=True` or name them in '
                             '`get_predict`.' % (unknown, names))
        missing = [n for n in chosen if by_name[n][0] is None]
        if missing:
            raise ValueError('Output(s) %s have no targets (y_true); metrics need labels. '
                             'Outputs with targets: %s.'
                             % (missing, [n for n in names if by_name[n][0] is not None]))
    return OrderedDict((n, by_name[n]) for n in chosen)


class EpochMetrics(Callback):
    """Per-class precision/recall/F1/support, ROC AUC and the confusion matrix of
    the whole validation set, computed by scikit-learn at each epoch end.

    Needs `fit_generator(..., get_predict=True)` (or `fit`) from keras-getpredict.
    Writes into the epoch logs, for each computed output, the scalars
    `<prefix>accuracy`, `<prefix>{precision,recall,f1}_{macro,micro,weighted}`,
    `<prefix>roc_auc_macro` and `<prefix>roc_auc_micro` (NaN where AUC is not
    defined), e.g. `val_f1_macro`. With `per_class=True` also
    `<prefix>{precision,recall,f1}_<class name>`. When it computes several outputs
    the output name follows the prefix, as in Keras: `val_<output>_f1_macro`.
    The same keys are written every epoch.

    # Arguments
        outputs: `None` (every captured output with targets), an output name,
            or a list of names.
        task: `'auto'`, `'multiclass'`, `'multilabel'` or `'binary'` (see
            `classification_metrics`), or a dict of output name to task.
        threshold: score from which a class counts as predicted for multilabel
            and binary tasks, or a dict of output name to threshold.
        class_names: list of class names, or a dict of output name to list.
        per_class: also log per-class precision, recall and F1.
        verbose: print the per-class table under each epoch's progress line;
            `None` (default) follows the verbosity of `fit`.
        prefix: start of every key; `'val_'` by default.

    # Attributes
        last_results: `OrderedDict` of output name to `ClassificationMetrics`
            for the last epoch (`None` before the first).

    # Raises
        ValueError: In case the predictions do not fit the task (shapes, names,
            number of class names), or a key it would write is already in the
            logs (choose another `prefix`).

    # Example
    ```python
    metrics = EpochMetrics(class_names=['cat', 'dog', 'bird'])
    model.fit_generator(train, steps, epochs=10, validation_data=val,
                        callbacks=[TensorBoard('logs'), metrics,
                                   EarlyStopping(monitor='val_f1_macro', mode='max')],
                        get_predict=True)
    ```
    """

    def __init__(self, outputs=None, task='auto', threshold=0.5, class_names=None,
                 per_class=False, verbose=None, prefix='val_'):
        super(EpochMetrics, self).__init__()
        self.outputs = outputs
        self.task = task
        self.threshold = threshold
        self.class_names = class_names
        self.per_class = per_class
        self.verbose = verbose
        self.prefix = prefix
        self.last_results = None
        self._source = None
        self._logged = None
        self._warned = False
        self._written = set()

    def settings_for(self, output):
        """Returns `(task, threshold, class_names)` used for `output`."""
        task = _per_output(self.task, output)
        threshold = _per_output(self.threshold, output)
        return (task or 'auto', 0.5 if threshold is None else threshold,
                _per_output(self.class_names, output))

    def results_for(self, gts_and_preds):
        """Computes (once per predictions object) the metrics of each chosen output.

        # Returns
            `OrderedDict` of output name to `ClassificationMetrics`.
        """
        if self._source is not gts_and_preds:
            results = OrderedDict()
            for name, (y_true, y_pred) in split_outputs(gts_and_preds, self.outputs).items():
                task, threshold, class_names = self.settings_for(name)
                try:
                    results[name] = classification_metrics(y_true, y_pred, task, threshold,
                                                           class_names)
                except ValueError as e:
                    raise ValueError("Output '%s': %s" % (name, e))
            self.last_results, self._source = results, gts_and_preds
        return self.last_results

    def scalars(self, results):
        """The logs entries for `results`, as an `OrderedDict`."""
        values = OrderedDict()
        several = len(results) > 1
        for output, result in results.items():
            start = self.prefix + (_safe(output) + '_' if several else '')
            for name, value in result.scalars().items():
                values[start + name] = value
            if self.per_class:
                for class_name, per in result.per_class():
                    for name in PER_CLASS_NAMES:
                        values['%s%s_%s' % (start, name, _safe(class_name))] = per[name]
        return values

    def table(self, results, epoch=None):
        """The per-class tables of `results` as one string."""
        parts = []
        for output, result in results.items():
            title = 'Validation metrics%s, output %r (%s, %d samples):' % (
                '' if epoch is None else ' after epoch %d' % (epoch + 1),
                output, result.task, result.n_samples)
            parts.append(result.table(title))
        return '\n\n'.join(parts)

    def on_predictions_published(self, epoch, logs):
        self._log(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        # Normally done already from `on_predictions_published`; this covers loops
        # that fill the logs without keras-getpredict's publisher.
        if self._logged != (epoch, id(logs.get(LOGS_KEY))):
            self._log(epoch, logs)

    def _log(self, epoch, logs):
        gts_and_preds = logs.get(LOGS_KEY)
        if gts_and_preds is None:
            if not self._warned:
                self._warned = True
                warnings.warn("EpochMetrics found no '%s' in the epoch logs, so it computes "
                              'nothing. Pass `get_predict=True` and validation data to '
                              '`fit_generator`/`fit` (after `keras_getpredict.install()`).'
                              % LOGS_KEY)
            return
        results = self.results_for(gts_and_preds)
        values = self.scalars(results)
        # `fit_generator` reuses one logs dict for all epochs: our own keys from the
        # previous epoch are no clash.
        clash = [k for k in values if k in logs and k not in self._written]
        if clash:
            raise ValueError('EpochMetrics would overwrite %s, already in the epoch logs. '
                             'Pass another `prefix` (now %r).' % (clash, self.prefix))
        logs.update((k, np.float64(v)) for k, v in values.items())
        self._written = set(values)
        self._logged = (epoch, id(gts_and_preds))
        verbose = self.verbose
        if verbose is None:
            verbose = (getattr(self, 'params', None) or {}).get('verbose', 0)
        if verbose:
            # Under the progress line, which Keras ends with a newline at epoch end.
            sys.stdout.write(self.table(results, epoch) + '\n')
            sys.stdout.flush()
