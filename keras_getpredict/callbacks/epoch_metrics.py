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

import contextlib
import numbers
import sys
from collections import OrderedDict

import six

from ..analysis import class_metrics
from ..analysis.optional_deps import require
from ..analysis.outputs import check_outputs_argument, choose_outputs, safe_key
from ..core.failures import ConfigurationError, ConfigurationTypeError
from ..core.results import outputs_by_name
from .predictions_callback import PredictionsCallback

#: Per-class values logged with `per_class=True`, as `<prefix><name>_<class>`.
PER_CLASS_NAMES = ('precision', 'recall', 'f1', 'roc_auc', 'support')

#: The settings that may be given per output, as a dict keyed by output name.
PER_OUTPUT_SETTINGS = ('task', 'threshold', 'class_names')


def _per_output(value, output):
    """`value`, or `value[output]` when `value` is a dict keyed by output name."""
    if isinstance(value, dict):
        return value.get(output)
    return value


def _each_value(argument, value):
    """`(label, value)` for a setting or for each entry of its per-output dict."""
    if isinstance(value, dict):
        return [('`%s[%r]`' % (argument, k), v) for k, v in value.items()]
    return [('`%s`' % argument, value)]


def _check_threshold(threshold, argument):
    if threshold is not None and (isinstance(threshold, bool) or
                                  not isinstance(threshold, numbers.Real)):
        raise ConfigurationTypeError(
            '%s should be a number (the score from which a class counts as '
            'predicted); got %r.' % (argument, threshold))


def metric_keys(start, class_names=None, per_class=False, keys=None, output=None):
    """The logs keys of one output, each with what it holds.

    # Arguments
        start: the prefix (and output name) before each metric name.
        class_names: the output's class names (needed with `per_class`).
        per_class: include the per-class keys.
        keys: an `OrderedDict` to add to (the keys of other outputs), or `None`.
        output: the output's name, said in the descriptions when given.

    # Returns
        `OrderedDict` of logs key to a description of its value.

    # Raises
        ValueError: In case two values would share a key: a class name equal to
            an average (`'macro'` gives `<prefix>precision_macro`), or two class
            or output names that become the same key (`'a b'` and `'a_b'`).
    """
    keys = OrderedDict() if keys is None else keys
    origins = [(name, _describe(name)) for name in class_metrics.SCALAR_NAMES]
    if per_class:
        origins += [('%s_%s' % (name, safe_key(c)), '%s of class %r' % (name, str(c)))
                    for c in class_names for name in PER_CLASS_NAMES]
    for name, origin in origins:
        key = start + name
        if output is not None:
            origin += ' of output %r' % str(output)
        if key in keys:
            raise ValueError('EpochMetrics would log both %s and %s under the key %r. '
                             'Rename the class or output (keys keep only letters, digits, '
                             '`_`, `.` and `-`).' % (keys[key], origin, key))
        keys[key] = origin
    return keys


def _describe(scalar_name):
    metric, _, average = scalar_name.rpartition('_')
    if average in class_metrics.AVERAGES:
        return 'the %s %s' % (average, metric)
    return 'the ' + scalar_name


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
    return choose_outputs(outputs_by_name(gts_and_preds), outputs)


class EpochMetrics(PredictionsCallback):
    """Per-class precision/recall/F1/support, ROC AUC and the confusion matrix of
    the whole validation set, computed by scikit-learn at each epoch end.

    It asks `fit_generator`/`fit` (after `keras_getpredict.install()`, or on the
    fork) for the capture it needs, the full predictions of its outputs
    (`get_predict`, see `PredictionsCallback`): validation data and this callback
    in `callbacks` are enough.
    Writes into the epoch logs, for each computed output, the scalars
    `<prefix>accuracy`, `<prefix>{precision,recall,f1}_{macro,micro,weighted}`,
    `<prefix>roc_auc_macro` and `<prefix>roc_auc_micro` (NaN where AUC is not
    defined), e.g. `val_f1_macro`. With `per_class=True` also
    `<prefix>{precision,recall,f1,roc_auc,support}_<class name>`. When it computes several outputs
    the output name follows the prefix, as in Keras: `val_<output>_f1_macro`.
    The same keys are written every epoch: an epoch whose metrics fail to
    compute (see `core/failures.py`) logs NaN under the keys written before.

    # Arguments
        outputs: `None` (every captured output with targets), an output name,
            or a list of names.
        task: `'auto'`, `'multiclass'`, `'multilabel'` or `'binary'` (see
            `classification_metrics`), or a dict of output name to task.
        threshold: score from which a class counts as predicted for multilabel
            and binary tasks, or a dict of output name to threshold.
        class_names: list of distinct class names, or a dict of output name
            to list.
        per_class: also log per-class precision, recall and F1.
        verbose: print the per-class table under each epoch's progress line;
            `None` (default) follows the verbosity of `fit`.
        prefix: start of every key; `'val_'` by default.

    # Attributes
        last_results: `OrderedDict` of output name to `ClassificationMetrics`
            for the last epoch (`None` before the first).

    # Raises
        TypeError: In case an argument has the wrong type.
        ValueError: In case `task` is unknown, `class_names` repeats a name, or
            (with `per_class`) a class name would make a key another value has,
            such as `'macro'` (`val_precision_macro`) or `'a b'` next to `'a_b'`
            (at construction, or at the first epoch for names from the shapes);
            at the first epoch with predictions, in case they
            do not fit the settings (outputs, shapes, task, number of class
            names), or a key it would write is already in the logs (choose
            another `prefix`). Later, an error in computing the metrics warns
            once and training goes on (see `core/failures.py`).
        ImportError: In case scikit-learn is not installed.

    # Example
    ```python
    metrics = EpochMetrics(class_names=['cat', 'dog', 'bird'])
    model.fit_generator(train, steps, epochs=10, validation_data=val,
                        callbacks=[TensorBoard('logs'), metrics,
                                   EarlyStopping(monitor='val_f1_macro', mode='max')])
    ```
    """

    def __init__(self, outputs=None, task='auto', threshold=0.5, class_names=None,
                 per_class=False, verbose=None, prefix='val_'):
        super(EpochMetrics, self).__init__()
        check_outputs_argument(outputs)
        for label, value in _each_value('task', task):
            class_metrics.check_task('auto' if value is None else value, label)
        for label, value in _each_value('threshold', threshold):
            _check_threshold(value, label)
        for label, value in _each_value('class_names', class_names):
            class_metrics.check_class_names(value, label)
        if not isinstance(prefix, six.string_types):
            raise ConfigurationTypeError(
                '`prefix` should be a string such as %r; got %r.' % ('val_', prefix))
        if per_class:
            for _, value in _each_value('class_names', class_names):
                if value is not None:
                    metric_keys(prefix, value, per_class=True)
        require(*class_metrics.REQUIRES)
        self.outputs = outputs
        self.task = task
        self.threshold = threshold
        self.class_names = class_names
        self.per_class = per_class
        self.verbose = verbose
        self.prefix = prefix
        self.last_results = None
        self._source = None
        self._by_key = {}
        # What `fit`/`fit_generator` capture for it: its outputs, in full.
        self.get_predict = True if outputs is None else outputs

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
                with _naming_output(name):
                    results[name] = class_metrics.classification_metrics(
                        y_true, y_pred, task, threshold, class_names)
            self.last_results, self._source = results, gts_and_preds
        return self.last_results

    def validate(self, gts_and_preds):
        """Checks the settings against one epoch's predictions, without scikit-learn.

        # Raises
            ValueError: In case an output is unknown or has no targets, a
                per-output dict names an output not captured, or an output's
                shapes do not fit its task or number of class names.
        """
        pairs = outputs_by_name(gts_and_preds)
        for argument in PER_OUTPUT_SETTINGS:
            value = getattr(self, argument)
            unknown = sorted(set(value) - set(pairs)) if isinstance(value, dict) else []
            if unknown:
                raise ConfigurationError(
                    '`%s` has settings for the outputs %s, but the predictions '
                    'hold the outputs %s.' % (argument, unknown, list(pairs)))
        chosen = choose_outputs(pairs, self.outputs)
        keys = OrderedDict()
        for name, (y_true, y_pred) in chosen.items():
            task, threshold, class_names = self.settings_for(name)
            with _naming_output(name):
                prepared = class_metrics.prepare_output(y_true, y_pred, task, threshold,
                                                        class_names)
            several = len(chosen) > 1
            metric_keys(self._start(name, several), prepared.class_names, self.per_class,
                        keys, name if several else None)

    def scalars(self, results):
        """The logs entries for `results`, as an `OrderedDict`."""
        values = OrderedDict()
        for output, result in results.items():
            start = self._start(output, len(results) > 1)
            for name, value in result.scalars().items():
                values[start + name] = value
            if self.per_class:
                for class_name, per in result.per_class():
                    for name in PER_CLASS_NAMES:
                        values['%s%s_%s' % (start, name, safe_key(class_name))] = per[name]
        return values

    def _start(self, output, several):
        return self.prefix + (safe_key(output) + '_' if several else '')

    def _chosen_before_training(self):
        """The outputs it will compute, as the compiled model tells before training:
        `outputs`, or every output with a target."""
        if isinstance(self.outputs, six.string_types):
            return [self.outputs]
        if self.outputs is not None:
            return list(self.outputs)
        model = self.model
        names = list(getattr(model, 'output_names', None) or [])
        if self.family is None:
            return names
        targets = self.family.model_targets(self.family.compiled_model(model))
        targets = list(targets) + [None] * (len(names) - len(targets))
        return [name for name, target in zip(names, targets) if target is not None]

    def keys_before_training(self):
        """Its scalar keys for the outputs it will compute (`_by_key`: of which output
        and which scalar each is)."""
        chosen = self._chosen_before_training()
        self._by_key = {}
        for output in chosen:
            start = self._start(output, len(chosen) > 1)
            for name in class_metrics.SCALAR_NAMES:
                self._by_key[start + name] = (output, name)
        return list(self._by_key)

    def same_as_keras(self, key, metric):
        """Keras' `compile(metrics=['accuracy'])` on the validation data is this
        callback's `accuracy` of the same output (argmax for several classes, a 0.5
        threshold for one): `val_accuracy` on Keras 2.3 (`Family.accuracy_name`;
        Keras 2.2 and tf.keras log `val_acc`, no clash). Not for a `threshold` other
        than 0.5, nor a multilabel `task` (Keras averages over the labels, this
        callback counts a sample right when all its labels are)."""
        accuracy = getattr(self.family, 'accuracy_name', None)
        output, name = self._by_key.get(key, (None, None))
        if accuracy is None or name != 'accuracy' or not (
                metric == accuracy or metric.endswith('_' + accuracy)):
            return False
        task, threshold, _ = self.settings_for(output)
        return threshold == 0.5 and task != 'multilabel'

    def table(self, results, epoch=None):
        """The per-class tables of `results` as one string."""
        parts = []
        for output, result in results.items():
            title = 'Validation metrics%s, output %r (%s, %d samples):' % (
                '' if epoch is None else ' after epoch %d' % (epoch + 1),
                output, result.task, result.n_samples)
            parts.append(result.table(title))
        return '\n\n'.join(parts)

    missing_advice = (', so it computes nothing. Call `keras_getpredict.install()` before '
                      '`fit_generator`/`fit`, and pass validation data.')

    def log_epoch(self, epoch, logs):
        gts_and_preds = self.predictions_in(logs)
        if gts_and_preds is None:
            return None
        self.validate_once(gts_and_preds)
        verbose = self.verbose
        if verbose is None:
            verbose = (getattr(self, 'params', None) or {}).get('verbose', 0)
        computed = self.run_analysis('computing the metrics of epoch %d' % (epoch + 1),
                                     self._values_and_table, gts_and_preds, epoch, verbose)
        if computed is None:
            return None
        values, table = computed
        if table:
            # Under the progress line, which Keras ends with a newline at epoch end.
            sys.stdout.write(table + '\n')
            sys.stdout.flush()
        return values

    def _values_and_table(self, gts_and_preds, epoch, verbose):
        results = self.results_for(gts_and_preds)
        return self.scalars(results), (self.table(results, epoch) if verbose else None)


@contextlib.contextmanager
def _naming_output(name):
    """Puts "Output '<name>': " in front of a `ValueError` raised inside it."""
    try:
        yield
    except ValueError as e:
        kind = type(e) if isinstance(e, ConfigurationError) else ValueError
        six.raise_from(kind("Output '%s': %s" % (name, e)), e)
