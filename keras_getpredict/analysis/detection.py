"""Detection metrics at one IoU threshold: per-class AP, precision, recall, confusion matrix.

Boxes are matterport's `[y1, x1, y2, x2]` (pixels, exclusive ends). Within each image and
class, detections are taken by decreasing score and each is matched to the unmatched
ground truth it overlaps most, if their IoU reaches the threshold: the rule of both
matterport's `utils.compute_matches` and COCO's `COCOeval`. Detections of all images are
then ranked by score per class, and AP is read off the precision-recall curve two ways:

- `'matterport'`: all-point interpolation, as matterport's `utils.compute_ap` (the number
  its notebooks print, there per image and with mask IoU);
- `'coco101'`: COCO's mean of the interpolated precision at 101 recall points, computed
  by pycocotools' `COCOeval` when it is installed, by the same rule in numpy otherwise.
"""
from __future__ import absolute_import

import contextlib
import io
from collections import OrderedDict, namedtuple

import numpy as np

AP_METHODS = ('matterport', 'coco101')

#: One image's ground truth and detections, in matterport's layout.
ImageDetections = namedtuple('ImageDetections',
                             'gt_boxes gt_class_ids pred_boxes pred_class_ids pred_scores')


def box_iou(boxes1, boxes2):
    """IoU of every pair: `(len(boxes1), len(boxes2))`; boxes `[y1, x1, y2, x2]`."""
    boxes1 = np.asarray(boxes1, 'float64').reshape(-1, 4)
    boxes2 = np.asarray(boxes2, 'float64').reshape(-1, 4)
    y1 = np.maximum(boxes1[:, None, 0], boxes2[None, :, 0])
    x1 = np.maximum(boxes1[:, None, 1], boxes2[None, :, 1])
    y2 = np.minimum(boxes1[:, None, 2], boxes2[None, :, 2])
    x2 = np.minimum(boxes1[:, None, 3], boxes2[None, :, 3])
    inter = np.maximum(y2 - y1, 0) * np.maximum(x2 - x1, 0)
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    union = area1[:, None] + area2[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.)


def greedy_match(gt_boxes, pred_boxes, pred_scores, iou_threshold=0.5):
    """For each detection (any order), the index of its ground truth, or -1.

    Detections are taken by decreasing score (ties in the given order); each takes
    the unmatched ground truth of highest IoU, if that IoU is >= `iou_threshold`.
    """
    pred_match = -np.ones(len(pred_boxes), 'int64')
    if not len(pred_boxes) or not len(gt_boxes):
        return pred_match
    overlaps = box_iou(pred_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), bool)
    for i in np.argsort(-np.asarray(pred_scores), kind='stable'):
        candidates = np.where(taken, -1., overlaps[i])
        j = int(np.argmax(candidates))
        if candidates[j] >= iou_threshold:
            taken[j] = True
            pred_match[i] = j
    return pred_match


def all_point_ap(is_tp, n_gt):
    """matterport's `compute_ap` interpolation: `is_tp` of the ranked detections."""
    is_tp = np.asarray(is_tp, bool)
    ranks = np.arange(1, len(is_tp) + 1)
    precisions = np.concatenate([[0], np.cumsum(is_tp) / ranks, [0]])
    recalls = np.concatenate([[0], np.cumsum(is_tp) / float(n_gt), [1]])
    for i in range(len(precisions) - 2, -1, -1):
        precisions[i] = max(precisions[i], precisions[i + 1])
    steps = np.where(recalls[:-1] != recalls[1:])[0] + 1
    return float(np.sum((recalls[steps] - recalls[steps - 1]) * precisions[steps]))


def coco101_ap(is_tp, n_gt):
    """COCO's 101-point interpolated AP (numpy, the rule of `COCOeval.accumulate`)."""
    is_tp = np.asarray(is_tp, bool)
    tp = np.cumsum(is_tp)
    recalls = tp / float(n_gt)
    precisions = tp / np.arange(1, len(is_tp) + 1, dtype='float64')
    for i in range(len(precisions) - 1, 0, -1):
        precisions[i - 1] = max(precisions[i - 1], precisions[i])
    points = np.linspace(0, 1, 101)
    where = np.searchsorted(recalls, points, side='left')
    return float(np.mean([precisions[w] if w < len(precisions) else 0. for w in where]))


def _pycocotools_ap(images, class_ids, iou_threshold):
    """Per-class COCO AP by pycocotools' `COCOeval`, or `None` when it is not installed."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        return None
    gts, dets = [], []
    for image_id, image in enumerate(images):
        for boxes, ids, scores, out in ((image.gt_boxes, image.gt_class_ids, None, gts),
                                        (image.pred_boxes, image.pred_class_ids,
                                         image.pred_scores, dets)):
            for k, (y1, x1, y2, x2) in enumerate(np.asarray(boxes, 'float64').reshape(-1, 4)):
                entry = {'id': len(out) + 1, 'image_id': image_id, 'category_id': int(ids[k]),
                         'bbox': [x1, y1, x2 - x1, y2 - y1], 'area': (x2 - x1) * (y2 - y1),
                         'iscrowd': 0}
                if scores is not None:
                    entry['score'] = float(scores[k])
                out.append(entry)
    result = OrderedDict((c, np.nan) for c in class_ids)
    if not dets:
        for c in class_ids:
            result[c] = 0. if any(g['category_id'] == c for g in gts) else np.nan
        return result
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth = COCO()
        truth.dataset = {'images': [{'id': i} for i in range(len(images))],
                         'annotations': gts,
                         'categories': [{'id': int(c)} for c in class_ids]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(dets), 'bbox')
        evaluation.params.iouThrs = np.array([iou_threshold])
        evaluation.params.maxDets = [max(len(dets), 1)]
        evaluation.params.areaRng = [[0, 1e10]]
        evaluation.params.areaRngLbl = ['all']
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval['precision']  # [iou, recall, class, area, max dets]
    for k, c in enumerate(evaluation.params.catIds):
        curve = precision[0, :, k, 0, -1]
        result[c] = float(curve.mean()) if (curve > -1).all() else np.nan
    return result


class DetectionMetrics(object):
    """Per-class detection metrics of a set of images at one IoU threshold.

    # Arguments
        images: list of `ImageDetections`.
        class_names: all class names, background (class 0) first.
        iou_threshold: a detection and a ground truth match from this IoU on.
        coco_implementation: `'auto'` (pycocotools when installed, else numpy),
            `'pycocotools'` or `'numpy'`.

    # Attributes
        ap: `{'matterport': array, 'coco101': array}`, one AP per class (NaN
            for background and for classes with no ground truth).
        mean_ap: `{'matterport': float, 'coco101': float}`, over classes with
            ground truth.
        precision, recall: arrays per class (NaN for background; precision 0
            without detections, recall NaN without ground truth).
        confusion_matrix: `(C, C)` counts, rows true, columns detected classes;
            row/column 0 (background) holds unmatched detections/ground truths
            (class-agnostic matching at `iou_threshold`).
        coco_implementation: which implementation computed `'coco101'`.
        class_names, n_samples (ground truths), accuracy (matched with the
            right class / all entries of the matrix), task (`'multiclass'`):
            what the confusion-matrix figure needs.
    """

    task = 'multiclass'

    def __init__(self, images, class_names, iou_threshold=0.5, coco_implementation='auto'):
        if coco_implementation not in ('auto', 'pycocotools', 'numpy'):
            raise ValueError("`coco_implementation` should be 'auto', 'pycocotools' or "
                             "'numpy'; got %r." % (coco_implementation,))
        self.class_names = list(class_names)
        n = len(self.class_names)
        self.ap = {method: np.full(n, np.nan) for method in AP_METHODS}
        self.precision, self.recall = np.full(n, np.nan), np.full(n, np.nan)
        self.confusion_matrix = np.zeros((n, n), 'int64')
        ranked = {c: ([], []) for c in range(1, n)}  # class -> (scores, is_tp)
        n_gt = np.zeros(n, 'int64')
        for image in images:
            gt_ids = np.asarray(image.gt_class_ids, 'int64')
            pred_ids = np.asarray(image.pred_class_ids, 'int64')
            scores = np.asarray(image.pred_scores, 'float64')
            for c in range(1, n):
                gt, pred = gt_ids == c, pred_ids == c
                n_gt[c] += gt.sum()
                match = greedy_match(np.asarray(image.gt_boxes)[gt],
                                     np.asarray(image.pred_boxes)[pred], scores[pred],
                                     iou_threshold)
                ranked[c][0].extend(scores[pred])
                ranked[c][1].extend(match >= 0)
            self._confuse(image, gt_ids, pred_ids, scores, iou_threshold)
        for c in range(1, n):
            scores, is_tp = np.asarray(ranked[c][0]), np.asarray(ranked[c][1], bool)
            is_tp = is_tp[np.argsort(-scores, kind='stable')]
            self.precision[c] = is_tp.mean() if len(is_tp) else 0.
            if n_gt[c]:
                self.recall[c] = is_tp.sum() / float(n_gt[c])
                self.ap['matterport'][c] = all_point_ap(is_tp, n_gt[c])
                self.ap['coco101'][c] = coco101_ap(is_tp, n_gt[c])
        self.coco_implementation = 'numpy'
        if coco_implementation != 'numpy':
            coco = _pycocotools_ap(images, list(range(1, n)), iou_threshold)
            if coco is None and coco_implementation == 'pycocotools':
                raise ImportError('`coco_implementation=\'pycocotools\'` needs pycocotools: '
                                  "pip install 'keras-getpredict[mrcnn]'")
            if coco is not None:
                self.coco_implementation = 'pycocotools'
                for c, value in coco.items():
                    self.ap['coco101'][c] = value
        has_gt = n_gt > 0
        self.mean_ap = {method: float(np.mean(values[has_gt])) if has_gt.any() else np.nan
                        for method, values in self.ap.items()}
        self.n_samples = int(n_gt.sum())
        total = self.confusion_matrix.sum()
        self.accuracy = (float(np.trace(self.confusion_matrix[1:, 1:])) / total
                         if total else np.nan)

    def _confuse(self, image, gt_ids, pred_ids, scores, iou_threshold):
        match = greedy_match(image.gt_boxes, image.pred_boxes, scores, iou_threshold)
        for i, j in enumerate(match):
            self.confusion_matrix[gt_ids[j] if j >= 0 else 0, pred_ids[i]] += 1
        for j in sorted(set(range(len(gt_ids))) - set(match.tolist())):
            self.confusion_matrix[gt_ids[j], 0] += 1

    def per_class(self):
        """`[(class_name, {'ap_matterport', 'ap_coco101', 'precision', 'recall'})]`,
        background left out."""
        return [(name, OrderedDict([('ap_matterport', float(self.ap['matterport'][c])),
                                    ('ap_coco101', float(self.ap['coco101'][c])),
                                    ('precision', float(self.precision[c])),
                                    ('recall', float(self.recall[c]))]))
                for c, name in enumerate(self.class_names) if c > 0]
