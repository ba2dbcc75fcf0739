"""Metrics from the reducing mode's counts (`core/reduce_counts.py`), numpy only.

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

from collections import OrderedDict

import numpy as np


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
