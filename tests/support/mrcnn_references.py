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
