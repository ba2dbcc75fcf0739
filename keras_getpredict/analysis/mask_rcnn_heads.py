"""Scores of a Mask R-CNN training model's heads, from what `get_predict` captured.

The ROI classifier (`mrcnn_class`) scores the ROIs the `proposal_targets` layer sampled
for training; their classes are that layer's output 1 (`target_class_ids`), and ROIs
that are only padding are the all-zero rows of its output 0 (`rois`; their class id is
0, like background ROIs, so the class ids alone cannot tell them apart). The RPN's
targets are the input `input_rpn_match` (1 positive, -1 negative, 0 neutral anchor), its
scores `rpn_class[..., 1]`. Works on matterport's graph names; no `mrcnn` import.
"""
from __future__ import absolute_import

from collections import OrderedDict

import numpy as np

from ..core.results import concat_batches
from .class_metrics import classification_metrics
from .optional_deps import optional_module

#: The `get_predict` selection the head metrics read: two small outputs, one input
#: and two outputs of the `proposal_targets` layer (nothing of the size of `mrcnn_mask`).
HEADS_GET_PREDICT = {'outputs': ['mrcnn_class', 'rpn_class'],
                     'inputs': ['input_rpn_match'],
                     'layers': {'proposal_targets': [0, 1]}}

ROIS_KEY = 'proposal_targets/0'
TARGET_CLASS_IDS_KEY = 'proposal_targets/1'

REQUIRES = ('sklearn.metrics',)


def _missing(gts_and_preds):
    """What `HEADS_GET_PREDICT` selects that `gts_and_preds` does not hold."""
    names = list(getattr(gts_and_preds, 'output_names', []))
    missing = [n for n in HEADS_GET_PREDICT['outputs'] if n not in names]
    missing += ["input '%s'" % n for n in HEADS_GET_PREDICT['inputs']
                if n not in gts_and_preds.get('inputs', {})]
    missing += ["layer output '%s'" % k for k in (ROIS_KEY, TARGET_CLASS_IDS_KEY)
                if k not in gts_and_preds.get('layers', {})]
    return missing


def head_arrays(gts_and_preds):
    """The four arrays the head metrics need, batches concatenated.

    # Returns
        `(rois, target_class_ids, mrcnn_class, rpn_match, rpn_class)`:
        `(B, R, 4)`, `(B, R)`, `(B, R, classes)`, `(B, A)`, `(B, A, 2)`.

    # Raises
        ValueError: In case the predictions miss something `HEADS_GET_PREDICT`
            selects.
    """
    missing = _missing(gts_and_preds)
    if missing:
        raise ValueError('The Mask R-CNN head metrics need %s in the predictions; pass '
                         '`get_predict=keras_getpredict.mask_rcnn.HEADS_GET_PREDICT` '
                         '(or a selection that includes it) to `fit_generator`.' % missing)
    flat = concat_batches(gts_and_preds)
    names = list(gts_and_preds.output_names)
    preds = flat['y_pred'] if isinstance(flat['y_pred'], list) else [flat['y_pred']]
    mrcnn_class = preds[names.index('mrcnn_class')]
    rpn_class = preds[names.index('rpn_class')]
    rpn_match = flat['inputs']['input_rpn_match']
    rpn_match = rpn_match.reshape(rpn_match.shape[0], -1)
    return (flat['layers'][ROIS_KEY], flat['layers'][TARGET_CLASS_IDS_KEY], mrcnn_class,
            rpn_match, rpn_class)


def roi_samples(rois, target_class_ids, mrcnn_class):
    """`(true class ids, class scores)` of the ROIs that are not padding."""
    real = np.any(rois != 0, axis=-1)
    return (np.asarray(target_class_ids)[real].astype('int64'),
            np.asarray(mrcnn_class)[real].astype('float64'))


def rpn_samples(rpn_match, rpn_class):
    """`(labels, objectness scores)` of the non-neutral anchors (1 positive, -1 negative)."""
    rpn_match = np.asarray(rpn_match).reshape(np.shape(rpn_class)[:-1])
    kept = rpn_match != 0
    return (rpn_match[kept] == 1).astype('int64'), np.asarray(rpn_class)[..., 1][kept]


class RPNMetrics(object):
    """Objectness precision, recall and ROC AUC over the non-neutral anchors.

    # Attributes
        precision, recall: at score >= `threshold` (0 when nothing is predicted
            or nothing is positive).
        roc_auc: NaN when the anchors are all positive or all negative.
        n_positive, n_negative: anchor counts.
    """

    def __init__(self, labels, scores, threshold=0.5):
        skm = optional_module('sklearn.metrics')
        predicted = (scores >= threshold).astype('int64')
        self.precision = float(skm.precision_score(labels, predicted, zero_division=0))
        self.recall = float(skm.recall_score(labels, predicted, zero_division=0))
        self.n_positive = int(labels.sum())
        self.n_negative = int(len(labels) - self.n_positive)
        self.roc_auc = (float(skm.roc_auc_score(labels, scores))
                        if self.n_positive and self.n_negative else np.nan)

    def scalars(self):
        return OrderedDict([('precision', self.precision), ('recall', self.recall),
                            ('roc_auc', self.roc_auc)])


def head_metrics(gts_and_preds, class_names, threshold=0.5):
    """The ROI classifier's and the RPN's metrics of one validation pass.

    # Arguments
        gts_and_preds: `logs['val_gts_and_preds']` captured with (at least)
            `HEADS_GET_PREDICT`.
        class_names: the dataset's class names, background first
            (`dataset.class_names`).
        threshold: objectness score from which an anchor counts as positive.

    # Returns
        `(roi, rpn)`: a `ClassificationMetrics` over the real ROIs (background
        is class 0), or `None` when `proposal_targets` sampled no ROI (it can,
        from briefly trained proposals), and an `RPNMetrics`, computed on its own
        either way.

    # Raises
        ValueError: In case something is missing, or `class_names` does not
            match the number of classes of `mrcnn_class`.
    """
    rois, target_class_ids, mrcnn_class, rpn_match, rpn_class = head_arrays(gts_and_preds)
    if len(class_names) != mrcnn_class.shape[-1]:
        raise ValueError('`class_names` has %d names, but `mrcnn_class` scores %d classes '
                         '(pass `dataset.class_names`, background first).'
                         % (len(class_names), mrcnn_class.shape[-1]))
    rpn = RPNMetrics(*rpn_samples(rpn_match, rpn_class), threshold=threshold)
    y_true, scores = roi_samples(rois, target_class_ids, mrcnn_class)
    roi = (classification_metrics(y_true, scores, 'multiclass', class_names=class_names)
           if len(y_true) else None)
    return roi, rpn
