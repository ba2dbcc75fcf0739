"""References the Mask R-CNN metrics are checked against: scikit-learn on the captured
arrays for the head metrics, matterport's `compute_ap` and pycocotools' `COCOeval`
(each skipped where not installed) for the detection metrics."""
import contextlib
import io

import numpy as np
import pytest

CLASS_NAMES = ['BG', 'square', 'circle']


def sklearn_head_reference(preds):
    """The head metrics by scikit-learn, straight from the captured per-batch arrays."""
    skm = pytest.importorskip('sklearn.metrics')
    names = preds.output_names
    real = np.concatenate(preds['layers']['proposal_targets/0']).any(-1)
    y_true = np.concatenate(preds['layers']['proposal_targets/1'])[real]
    y_hat = np.concatenate([b[names.index('mrcnn_class')] for b in preds['y_pred']]).argmax(-1)
    y_hat = y_hat[real]
    p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_hat, labels=[0, 1, 2],
                                                     zero_division=0)
    expected = {'val_mrcnn_class_accuracy': skm.accuracy_score(y_true, y_hat)}
    for k, name in enumerate(CLASS_NAMES):
        expected['val_mrcnn_class_precision_' + name] = p[k]
        expected['val_mrcnn_class_recall_' + name] = r[k]
        expected['val_mrcnn_class_f1_' + name] = f[k]
    match = np.concatenate(preds['inputs']['input_rpn_match'])[..., 0]
    score = np.concatenate([b[names.index('rpn_class')] for b in preds['y_pred']])[..., 1]
    labels, kept = (match[match != 0] == 1), score[match != 0]
    expected['val_rpn_precision'] = skm.precision_score(labels, kept >= 0.5, zero_division=0)
    expected['val_rpn_recall'] = skm.recall_score(labels, kept >= 0.5)
    expected['val_rpn_roc_auc'] = skm.roc_auc_score(labels, kept)
    return expected, int(real.sum())


def box_mask(boxes, size=80):
    masks = np.zeros((size, size, len(boxes)), bool)
    for k, (y1, x1, y2, x2) in enumerate(boxes):
        masks[int(y1):int(y2), int(x1):int(x2), k] = True
    return masks


def matterport_ap(utils, image):
    """`utils.compute_ap` of one single-class image (box-shaped masks), or `None` where
    mrcnn 0.2's `compute_matches` takes a ground truth twice: it tests `gt_match[j] > 0`,
    so the one taken by the top-scoring detection (index 0) can be taken again; later
    matterport code and COCO match each ground truth once, as we do."""
    size = int(max(np.max(image.gt_boxes), np.max(image.pred_boxes))) + 1
    args = (np.asarray(image.gt_boxes), np.asarray(image.gt_class_ids),
            box_mask(image.gt_boxes, size), np.asarray(image.pred_boxes),
            np.asarray(image.pred_class_ids), np.asarray(image.pred_scores, 'float64'),
            box_mask(image.pred_boxes, size))
    pred_match = utils.compute_matches(*args)[1]
    matched = pred_match[pred_match > -1]
    if len(set(matched)) < len(matched):
        return None
    return utils.compute_ap(*args)[0]


def cocoeval_ap50(images, class_ids):
    """Stock COCOeval (default parameters), its AP@0.5 summary and per-class curves."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gts, dets = [], []
    for i, im in enumerate(images):
        for (y1, x1, y2, x2), c in zip(im.gt_boxes, im.gt_class_ids):
            gts.append({'id': len(gts) + 1, 'image_id': i, 'category_id': int(c),
                        'bbox': [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                        'area': float((x2 - x1) * (y2 - y1)), 'iscrowd': 0})
        for (y1, x1, y2, x2), c, s in zip(im.pred_boxes, im.pred_class_ids, im.pred_scores):
            dets.append({'image_id': i, 'category_id': int(c), 'score': float(s),
                         'bbox': [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {'images': [{'id': i} for i in range(len(images))],
                         'annotations': gts, 'categories': [{'id': c} for c in class_ids]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(dets), 'bbox')
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats[1]


QUALITY_LAYERS = {'proposal_targets': [0, 1, 2, 3]}
#: What a test captures (besides the graph sums) to recompute them in numpy.
QUALITY_REFERENCE_GET_PREDICT = {'outputs': ['mrcnn_bbox', 'mrcnn_mask'],
                                 'layers': QUALITY_LAYERS}


def _refined(box, delta):
    """One `(y1, x1, y2, x2)` box moved by one delta row, written out as matterport's
    `utils.apply_box_deltas` does it (float32 throughout)."""
    height, width = box[2] - box[0], box[3] - box[1]
    cy, cx = box[0] + 0.5 * height, box[1] + 0.5 * width
    cy, cx = cy + delta[0] * height, cx + delta[1] * width
    height, width = height * np.exp(delta[2]), width * np.exp(delta[3])
    y1, x1 = cy - 0.5 * height, cx - 0.5 * width
    return np.array([y1, x1, y1 + height, x1 + width], np.float32)


def _box_iou(a, b):
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0.) * max(min(a[3], b[3]) - max(a[1], b[1]),
                                                             0.)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.


def quality_sums_reference(rois, class_ids, target_bbox, target_mask, mrcnn_bbox, mrcnn_mask,
                           num_classes, bbox_std_dev=(0.1, 0.1, 0.2, 0.2), threshold=0.5):
    """The `(5, classes)` quality sums ROI by ROI in numpy, from captured arrays of one or
    more batches (`(B, R, ...)` each, batches concatenated)."""
    std = np.asarray(bbox_std_dev, np.float32)
    sums = np.zeros((5, num_classes))
    for b, r in zip(*np.nonzero(np.asarray(class_ids) > 0)):
        c = int(class_ids[b, r])
        predicted = mrcnn_mask[b, r, :, :, c] >= threshold
        target = target_mask[b, r] >= 0.5
        box = np.asarray(rois[b, r], np.float32)
        sums[:, c] += [1, (predicted & target).sum(), predicted.sum(), target.sum(),
                       _box_iou(_refined(box, mrcnn_bbox[b, r, c] * std),
                                _refined(box, target_bbox[b, r] * std))]
    return sums


def quality_reference_from(preds, num_classes, bbox_std_dev=(0.1, 0.1, 0.2, 0.2)):
    """`quality_sums_reference` on what `QUALITY_REFERENCE_GET_PREDICT` captured."""
    names = preds.output_names
    layers = [np.concatenate(preds['layers']['proposal_targets/%d' % i]) for i in range(4)]
    outputs = [np.concatenate([b[names.index(n)] for b in preds['y_pred']])
               for n in ('mrcnn_bbox', 'mrcnn_mask')]
    return quality_sums_reference(*(layers + outputs), num_classes=num_classes,
                                  bbox_std_dev=bbox_std_dev)
