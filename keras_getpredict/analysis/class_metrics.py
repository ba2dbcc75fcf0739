"""Per-class metrics of one output: from its arrays, computed by scikit-learn, or from
the reducing mode's counts, with numpy only.

From arrays, over a whole validation set: `classification_metrics(y_true, y_pred)`
turns one output's labels and predictions into per-class precision, recall, F1,
support and ROC AUC, their averages, and the confusion matrix. Three tasks:

- `'multiclass'`: softmax outputs `(n, C)`, labels one-hot `(n, C)` (soft labels are
  read by their argmax) or integer `(n,)`/`(n, 1)`; the predicted class is the argmax.
- `'multilabel'`: sigmoid outputs `(n, C)`, 0/1 labels `(n, C)`; a class is predicted
  when its score is `>= threshold`.
- `'binary'`: one sigmoid `(n,)`/`(n, 1)`, 0/1 labels; two classes, 0 and 1.

Extra axes before the last one (sequences, pixels) count as more samples.

From the counts of `core/reduce_counts.py` (`output_metrics`), without scikit-learn.
From the confusion matrix, exact: per-class IoU (Jaccard), Dice (= F1), precision,
recall, support, and accuracy; a class with an empty denominator gets `nan` and is
left out of the means (as in most segmentation benchmarks, the mean is over classes
that occur in the labels or the predictions).

From the score histograms, binned: for each class (one-vs-rest) the counts at the
thresholds `k/B`, `k = 0..B`, are exact (a sample counts as positive at `k/B` when its
score is in bin `k` or above), so every point of the binned PR and ROC curves is a
point of the exact curves. The ROC AUC from those points (trapezoids) treats a
positive and a negative that share a bin as a tie, so

    |binned AUC - exact AUC| <= 0.5 * sum_k P_k * N_k / (P * N)

where `P_k`, `N_k` are bin `k`'s positives and negatives and `P`, `N` their totals:
`auc_error_bound` computes it. It is 0 when no bin holds both a positive and a
negative, and at most `0.5 * max_k N_k / N` (for scores spread over many bins, about
`0.5 / B`). Average precision is the step sum `sum (R_k - R_{k+1}) * P_k` over the
bin edges: it differs from scikit-learn's, which steps at every distinct score, by
at most the recall that falls inside one bin times the precision change there.
"""
from __future__ import absolute_import

from collections import OrderedDict, namedtuple

import numpy as np
import six

from .optional_deps import optional_module

#: The modules `ClassificationMetrics` imports (from the `[metrics]` extra).
REQUIRES = ('sklearn.metrics',)

TASKS = ('auto', 'multiclass', 'multilabel', 'binary')

#: Scalar names, in the order they are logged. `roc_auc_*` is NaN when undefined
#: (a class with no positive or no negative sample is left out of the macro mean;
#: NaN when no class has both).
SCALAR_NAMES = ('accuracy',
                'precision_macro', 'recall_macro', 'f1_macro',
                'precision_micro', 'recall_micro', 'f1_micro',
                'precision_weighted', 'recall_weighted', 'f1_weighted',
                'roc_auc_macro', 'roc_auc_micro')

AVERAGES = ('macro', 'micro', 'weighted')


class ClassificationMetrics(object):
    """The metrics of one output over one validation set.

    # Attributes
        task: `'multiclass'`, `'multilabel'` or `'binary'`.
        class_names: list of `str`, one per class.
        n_samples: number of samples (after flattening extra axes).
        precision, recall, f1, roc_auc: float arrays `(classes,)`; `roc_auc` is
            NaN for a class without both positive and negative samples.
        support: int array `(classes,)`, true samples per class.
        averages: `{'macro'|'micro'|'weighted': {'precision', 'recall', 'f1'}}`.
        accuracy: fraction of samples whose predicted class is right (for
            multilabel: whose whole label set is right, scikit-learn's
            subset accuracy).
        roc_auc_macro, roc_auc_micro: floats, NaN where undefined.
        confusion_matrix: `(C, C)` counts, rows true, columns predicted; for
            multilabel `(C, 2, 2)`, one `[[tn, fp], [fn, tp]]` per class.
        labels: `(n, C)` 0/1 indicator of the true classes (binary: 2 columns).
        scores: `(n, C)` predicted scores, aligned with `labels`.
    """

    def __init__(self, task, class_names, labels, scores, predicted):
        skm = optional_module('sklearn.metrics')
        self.task = task
        self.class_names = list(class_names)
        self.labels = labels
        self.scores = scores
        self.n_samples = len(labels)
        indices = np.arange(labels.shape[1])
        if task == 'multilabel':
            y_true, y_hat = labels, predicted
            self.confusion_matrix = skm.multilabel_confusion_matrix(y_true, y_hat)
            label_args = {}
        else:
            y_true, y_hat = labels.argmax(axis=1), predicted
            self.confusion_matrix = skm.confusion_matrix(y_true, y_hat, labels=indices)
            label_args = {'labels': indices}
        self.precision, self.recall, self.f1, self.support = skm.precision_recall_fscore_support(
            y_true, y_hat, zero_division=0, **label_args)
        self.averages = OrderedDict()
        for average in AVERAGES:
            p, r, f, _ = skm.precision_recall_fscore_support(
                y_true, y_hat, average=average, zero_division=0, **label_args)
            self.averages[average] = OrderedDict([('precision', float(p)), ('recall', float(r)),
                                                  ('f1', float(f))])
        self.accuracy = float(skm.accuracy_score(y_true, y_hat))
        self.roc_auc = np.full(len(indices), np.nan)
        for k in indices:
            if 0 < labels[:, k].sum() < self.n_samples:
                self.roc_auc[k] = skm.roc_auc_score(labels[:, k], scores[:, k])
        defined = ~np.isnan(self.roc_auc)
        # scikit-learn's 'macro' is the unweighted mean of the per-class AUCs; it
        # raises when a class is undefined, we average the defined ones instead.
        self.roc_auc_macro = float(self.roc_auc[defined].mean()) if defined.any() else np.nan
        flat = labels.ravel()
        self.roc_auc_micro = (float(skm.roc_auc_score(flat, scores.ravel()))
                              if 0 < flat.sum() < flat.size else np.nan)

    def scalars(self):
        """Returns an `OrderedDict` of `SCALAR_NAMES` to floats."""
        values = OrderedDict([('accuracy', self.accuracy)])
        for average in AVERAGES:
            for name, value in self.averages[average].items():
                values['%s_%s' % (name, average)] = value
        values['roc_auc_macro'] = self.roc_auc_macro
        values['roc_auc_micro'] = self.roc_auc_micro
        return values

    def per_class(self):
        """Returns `[(class_name, {'precision', 'recall', 'f1', 'roc_auc', 'support'})]`."""
        return [(name, OrderedDict([('precision', float(self.precision[k])),
                                    ('recall', float(self.recall[k])),
                                    ('f1', float(self.f1[k])),
                                    ('roc_auc', float(self.roc_auc[k])),
                                    ('support', int(self.support[k]))]))
                for k, name in enumerate(self.class_names)]

    def table(self, title=None, digits=3):
        """Returns the per-class table as text, in the style of scikit-learn's
        `classification_report`, with a ROC AUC column."""
        width = max([len(n) for n in self.class_names] + [len('weighted avg')])
        head = ['precision', 'recall', 'f1-score', 'roc-auc', 'support']
        line = '%*s ' + ' %9s' * 5
        num = '%9.' + str(digits) + 'f'

        def fmt(value):
            # Blank where a figure does not apply, '-' where it is undefined (AUC).
            if value is None:
                return ' ' * 9
            return '%9s' % '-' if np.isnan(value) else num % value

        rows = []
        if title:
            rows.append(title)
        rows.append(line % ((width, '') + tuple(head)))
        for name, values in self.per_class():
            rows.append('%*s  %s %s %s %s %9d' % (
                width, name, fmt(values['precision']), fmt(values['recall']),
                fmt(values['f1']), fmt(values['roc_auc']), values['support']))
        rows.append('')
        total = int(self.support.sum())
        accuracy_name = 'subset acc' if self.task == 'multilabel' else 'accuracy'
        rows.append('%*s  %s %s %s %s %9d' % (width, accuracy_name, fmt(None), fmt(None),
                                              fmt(self.accuracy), fmt(None), self.n_samples))
        auc = {'macro': self.roc_auc_macro, 'micro': self.roc_auc_micro, 'weighted': None}
        for average in AVERAGES:
            values = self.averages[average]
            rows.append('%*s  %s %s %s %s %9d' % (
                width, average + ' avg', fmt(values['precision']), fmt(values['recall']),
                fmt(values['f1']), fmt(auc[average]), total))
        return '\n'.join(rows)


def _check_binary(values, what):
    if values.size and not np.all((values == 0) | (values == 1)):
        raise ValueError('%s must hold only 0 and 1; found values such as %s.'
                         % (what, np.unique(values)[:5].tolist()))


def _default_class_names(task, n_classes):
    return ['0', '1'] if task == 'binary' else [str(k) for k in range(n_classes)]


def _rows_sum_to_one(values):
    return bool(np.allclose(values.sum(axis=1), 1.0, atol=1e-3))


def classification_metrics(y_true, y_pred, task='auto', threshold=0.5, class_names=None):
    """Computes per-class and averaged classification metrics with scikit-learn.

    # Arguments
        y_true: labels: one-hot/indicator with the shape of `y_pred`, or integer
            class indices with `y_pred`'s shape without its last axis (or with
            a last axis of 1).
        y_pred: predicted scores, classes on the last axis.
        task: `'auto'` (default), `'multiclass'`, `'multilabel'` or `'binary'`.
            `'auto'` picks binary for one score per sample, multiclass for
            integer labels or for one-hot labels with softmax-like predictions
            (rows summing to 1), multilabel otherwise.
        threshold: score from which a class counts as predicted (multilabel,
            binary).
        class_names: optional names, one per class (binary: two), all different.

    # Returns
        A `ClassificationMetrics`.

    # Raises
        ValueError: In case the shapes do not fit the task, labels are out of
            range, `class_names` has the wrong length or repeats a name, or there
            are no samples.
        ImportError: In case scikit-learn is not installed.

    # Example
    ```python
    result = classification_metrics(y_val, model.predict(x_val), class_names=names)
    print(result.table())
    ```
    """
    return ClassificationMetrics(*prepare_output(y_true, y_pred, task, threshold, class_names))


#: What `prepare_output` returns: the arguments of `ClassificationMetrics`.
PreparedOutput = namedtuple('PreparedOutput', 'task class_names labels scores predicted')


def check_task(task, argument='`task`'):
    """Raises `ValueError` unless `task` is one of `TASKS`."""
    if task not in TASKS:
        raise ValueError('%s should be one of %s; got %r.' % (argument, list(TASKS), task))


def check_class_names(class_names, argument='`class_names`'):
    """Raises unless `class_names` is `None` or a list of distinct names.

    # Raises
        TypeError: In case it is a string or not a sequence.
        ValueError: In case a name appears twice (their keys and tags would clash).
    """
    if class_names is None:
        return
    if isinstance(class_names, six.string_types) or not isinstance(class_names,
                                                                   (list, tuple, np.ndarray)):
        raise TypeError('%s should be a list of names, one per class; got %r.'
                        % (argument, class_names))
    names = [str(n) for n in class_names]
    repeated = sorted(set(n for n in names if names.count(n) > 1))
    if repeated:
        raise ValueError('%s should name each class once; %s appear more than once in %r.'
                         % (argument, repeated, list(class_names)))


def prepare_output(y_true, y_pred, task='auto', threshold=0.5, class_names=None):
    """Checks one output's labels and predictions against the settings and lays them
    out as `(samples, classes)`, without scikit-learn.

    Takes the arguments of `classification_metrics` and raises the same
    `ValueError`s; cheap enough to validate a configuration before computing.

    # Returns
        A `PreparedOutput`.
    """
    check_task(task)
    check_class_names(class_names)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred, dtype='float64')
    shapes = 'y_true %s, y_pred %s' % (y_true.shape, y_pred.shape)
    if y_pred.ndim == 0:
        raise ValueError('`y_pred` must have a sample axis; got shapes %s.' % shapes)
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
        if y_true.shape == y_pred.shape[:1]:
            y_true = y_true[:, None]
    n_classes = y_pred.shape[-1]
    if n_classes == 1 and y_true.shape == y_pred.shape[:-1]:
        y_true = y_true[..., None]  # binary labels without their unit axis
    if y_true.shape == y_pred.shape:
        sparse = False
        y_true = y_true.reshape(-1, n_classes)
    elif n_classes > 1 and y_true.shape in (y_pred.shape[:-1], y_pred.shape[:-1] + (1,)):
        sparse = True
        y_true = y_true.reshape(-1)
    else:
        raise ValueError('Labels and predictions do not fit: %s. Labels must be one-hot / '
                         '0-1 indicators shaped like the predictions, or integer class '
                         'indices shaped like the predictions without their last axis.'
                         % shapes)
    y_pred = y_pred.reshape(-1, n_classes)
    if not len(y_pred):
        raise ValueError('No samples to compute metrics on (shapes %s).' % shapes)

    if task == 'auto':
        if n_classes == 1:
            task = 'binary'
        elif sparse or (_rows_sum_to_one(y_true) and _rows_sum_to_one(y_pred)):
            task = 'multiclass'
        else:
            task = 'multilabel'
    if task == 'binary':
        if n_classes != 1:
            raise ValueError("task='binary' needs one score per sample; got %s. Use "
                             "'multiclass' or 'multilabel' for %d classes." % (shapes, n_classes))
        _check_binary(y_true, '`y_true` of a binary task')
        positive = y_true[:, 0].astype(int)
        labels = np.stack([1 - positive, positive], axis=1)
        scores = np.concatenate([1.0 - y_pred, y_pred], axis=1)
        predicted = (y_pred[:, 0] >= threshold).astype(int)
    elif task == 'multiclass':
        if n_classes < 2:
            raise ValueError("task='multiclass' needs at least 2 classes; got %s." % shapes)
        if sparse:
            if not np.all(np.equal(np.mod(y_true, 1), 0)) or y_true.min() < 0 or \
                    y_true.max() >= n_classes:
                raise ValueError('Integer labels must be class indices in [0, %d); found '
                                 'values from %s to %s (shapes %s).'
                                 % (n_classes, y_true.min(), y_true.max(), shapes))
            index = y_true.astype(int)
        else:
            index = y_true.argmax(axis=1)
        labels = np.eye(n_classes, dtype=int)[index]
        scores = y_pred
        predicted = y_pred.argmax(axis=1)
    else:
        if sparse:
            raise ValueError("task='multilabel' needs 0/1 labels shaped like the predictions; "
                             'got %s.' % shapes)
        _check_binary(y_true, '`y_true` of a multilabel task')
        labels = y_true.astype(int)
        scores = y_pred
        predicted = (y_pred >= threshold).astype(int)

    n_named = labels.shape[1]
    if class_names is None:
        class_names = _default_class_names(task, n_named)
    else:
        if len(class_names) != n_named:
            raise ValueError('`class_names` should list %d names for this %s output (%s); '
                             'got %r.' % (n_named, task, shapes, class_names))
        class_names = [str(n) for n in class_names]
    return PreparedOutput(task, class_names, labels, scores, predicted)


# --- from counts (numpy only) ------------------------------------------------------------


def _ratio(numerator, denominator):
    numerator = np.asarray(numerator, np.float64)
    denominator = np.asarray(denominator, np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def confusion_metrics(confusion):
    """Per-class and overall metrics of a `(C, C)` confusion matrix (`[true, pred]`).

    # Returns
        An `OrderedDict`: `'iou'`, `'dice'`, `'precision'`, `'recall'`, `'f1'`
        (arrays of C floats, `nan` where undefined), `'support'` (C ints),
        `'mean_iou'`, `'mean_dice'`, `'accuracy'` (floats).
    """
    confusion = np.asarray(confusion, np.int64)
    tp = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    fp, fn = predicted - tp, actual - tp
    iou = _ratio(tp, tp + fp + fn)
    dice = _ratio(2 * tp, 2 * tp + fp + fn)
    out = OrderedDict()
    out['iou'] = iou
    out['dice'] = dice
    out['precision'] = _ratio(tp, predicted)
    out['recall'] = _ratio(tp, actual)
    out['f1'] = dice
    out['support'] = actual
    out['mean_iou'] = float(np.nanmean(iou)) if np.isfinite(iou).any() else float('nan')
    out['mean_dice'] = float(np.nanmean(dice)) if np.isfinite(dice).any() else float('nan')
    total = confusion.sum()
    out['accuracy'] = float(tp.sum()) / total if total else float('nan')
    return out


def counts_at_thresholds(positives, negatives):
    """True and false positives at the thresholds `k/B`, `k = 0..B`, of one class.

    # Returns
        `(tp, fp)`, int64 arrays of length `B + 1`; index `k` counts the samples
        whose bin is `k` or above (`tp[0]`/`fp[0]`: every positive/negative,
        index `B`: none).
    """
    tp = np.concatenate([np.cumsum(np.asarray(positives, np.int64)[::-1])[::-1], [0]])
    fp = np.concatenate([np.cumsum(np.asarray(negatives, np.int64)[::-1])[::-1], [0]])
    return tp, fp


def roc_curve(positives, negatives):
    """`(fpr, tpr, thresholds)` at the bin edges, thresholds decreasing from 1."""
    tp, fp = counts_at_thresholds(positives, negatives)
    bins = len(positives)
    order = slice(None, None, -1)
    return (_ratio(fp, fp[0])[order], _ratio(tp, tp[0])[order],
            (np.arange(bins + 1) / float(bins))[order])


def roc_auc(positives, negatives):
    """Binned ROC AUC of one class (`nan` without positives or negatives)."""
    fpr, tpr, _ = roc_curve(positives, negatives)
    if not (np.isfinite(fpr).all() and np.isfinite(tpr).all()):
        return float('nan')
    return float(np.trapz(tpr, fpr))


def auc_error_bound(positives, negatives):
    """The bound on `|roc_auc - exact AUC|` stated in the module doc."""
    positives = np.asarray(positives, np.float64)
    negatives = np.asarray(negatives, np.float64)
    pairs = positives.sum() * negatives.sum()
    return float(0.5 * np.dot(positives, negatives) / pairs) if pairs else float('nan')


def pr_curve(positives, negatives):
    """`(precision, recall, thresholds)` at the bin edges `k/B` where anything is
    predicted positive, thresholds increasing (as scikit-learn's)."""
    tp, fp = counts_at_thresholds(positives, negatives)
    bins = len(positives)
    keep = (tp + fp) > 0
    return (_ratio(tp, tp + fp)[keep], _ratio(tp, tp[0])[keep],
            (np.arange(bins + 1) / float(bins))[keep])


def average_precision(positives, negatives):
    """Binned average precision: `sum_k (R_k - R_{k+1}) * P_k` over the bin edges."""
    precision, recall, _ = pr_curve(positives, negatives)
    if not len(recall) or not np.isfinite(recall).all():
        return float('nan')
    steps = recall - np.concatenate([recall[1:], [0.]])
    return float(np.sum(steps * precision))


def histogram_metrics(positives, negatives):
    """Per-class `'roc_auc'`, `'average_precision'`, `'auc_error_bound'` arrays
    (`nan` for a class without positives or negatives)."""
    out = OrderedDict()
    rows = list(zip(positives, negatives))
    out['roc_auc'] = np.array([roc_auc(p, n) for p, n in rows])
    out['average_precision'] = np.array([average_precision(p, n) for p, n in rows])
    out['auc_error_bound'] = np.array([auc_error_bound(p, n) for p, n in rows])
    return out


def output_metrics(counts):
    """Every metric of one output's `OutputCounts`: `confusion_metrics`, plus
    `histogram_metrics` when it has score histograms."""
    out = confusion_metrics(counts.confusion)
    if counts.bins:
        out.update(histogram_metrics(counts.positives, counts.negatives))
    return out
