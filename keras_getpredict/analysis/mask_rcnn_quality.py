"""Per-class quality of a Mask R-CNN training model's mask and box heads, from the graph
sums `MaskRCNNQualitySums` adds up over the validation pass (numpy only).

The sums are one `(5, classes)` float64 array, rows in `ROWS` order, over the positive
ROIs `proposal_targets` sampled (target class id > 0; padding ROIs have class 0):

- `rois`: positive ROIs per class;
- `mask_intersection`, `mask_predicted`, `mask_target`: pixels of the ROI's mask at its
  target class thresholded (`>= threshold`, as matterport's `unmold_mask`), of
  `target_mask`, and of both, pooled over the class's ROIs (28 x 28 each);
- `bbox_iou`: the sum of each ROI's IoU between the box `mrcnn_bbox`'s deltas at its
  target class (times `BBOX_STD_DEV`) give on the ROI and the box the target deltas give.
"""
from __future__ import absolute_import

from collections import OrderedDict

import numpy as np

from .outputs import safe_key

ROWS = ('rois', 'mask_intersection', 'mask_predicted', 'mask_target', 'bbox_iou')
#: The metrics, each logged per class and as `_mean` over the classes with positives.
METRICS = ('mask_iou', 'mask_dice', 'bbox_iou')


def _ratio(numerator, denominator):
    return float(numerator) / float(denominator) if denominator else np.nan


def quality_metrics(sums):
    """Per-class `mask_iou` (intersection over union of the pooled pixels), `mask_dice`
    (`2 I / (predicted + target)`) and `bbox_iou` (mean box IoU) from the sums.

    # Arguments
        sums: the `(5, classes)` array (rows `ROWS`).

    # Returns
        An `OrderedDict` metric name -> `(classes,)` float64 array, NaN for a class
        without a positive ROI (always background, class 0), and `'rois'`: the
        positive ROIs per class.

    # Raises
        ValueError: In case `sums` does not have the five rows.
    """
    sums = np.asarray(sums, np.float64)
    if sums.ndim != 2 or sums.shape[0] != len(ROWS):
        raise ValueError('The Mask R-CNN quality sums should be a (%d, classes) array '
                         '(rows %s); got shape %s.' % (len(ROWS), ROWS, sums.shape))
    rois, intersection, predicted, target, bbox_iou = sums
    metrics = OrderedDict((name, np.full(sums.shape[1], np.nan)) for name in METRICS)
    for c in np.flatnonzero(rois > 0):
        metrics['mask_iou'][c] = _ratio(intersection[c],
                                        predicted[c] + target[c] - intersection[c])
        metrics['mask_dice'][c] = _ratio(2. * intersection[c], predicted[c] + target[c])
        metrics['bbox_iou'][c] = bbox_iou[c] / rois[c]
    metrics['rois'] = rois.astype(np.int64)
    return metrics


def quality_scalars(sums, class_names, prefix='val_'):
    """The logs entries of one epoch's sums: `<prefix>mrcnn_<metric>_<class>` for every
    class but background (`class_names[0]`) and `<prefix>mrcnn_<metric>_mean` over the
    classes with positive ROIs (NaN when none has one), metrics `METRICS`.

    # Raises
        ValueError: In case `class_names` does not have one name per class of the sums.
    """
    metrics = quality_metrics(sums)
    if len(class_names) != len(metrics['rois']):
        raise ValueError('`class_names` has %d names, but the Mask R-CNN heads score %d '
                         'classes (pass `dataset.class_names`, background first).'
                         % (len(class_names), len(metrics['rois'])))
    values = OrderedDict()
    for name in METRICS:
        per_class = metrics[name]
        defined = per_class[np.isfinite(per_class)]
        values['%smrcnn_%s_mean' % (prefix, name)] = (float(defined.mean()) if defined.size
                                                      else np.nan)
        for c, class_name in enumerate(class_names):
            if c:
                values['%smrcnn_%s_%s' % (prefix, name, safe_key(class_name))] = \
                    float(per_class[c])
    return values


def quality_keys(class_names, prefix='val_'):
    """The keys `quality_scalars` writes, in order."""
    return list(quality_scalars(np.zeros((len(ROWS), len(class_names))), class_names,
                                prefix))
