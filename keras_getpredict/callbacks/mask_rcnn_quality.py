"""`MaskRCNNQualityMetrics`: per-class IoU and Dice of the Mask R-CNN mask head and IoU
of its box head, every epoch, folded on the graph in the validation pass Keras runs.

`MaskRCNNQualitySums` is the graph sum (`get_predict['sums']`, `core/graph_sums.py`): in
each validation session run it picks the positive ROIs of `proposal_targets`, the mask
of each at its target class (a gather: `mrcnn_mask` is never fetched) and the box deltas,
and sums a `(5, classes)` array per batch (`analysis/mask_rcnn_quality.py` has the rows).
Works on matterport's graph names; no `mrcnn` import.
"""
from __future__ import absolute_import

import numbers

import numpy as np
import six

from ..analysis.mask_rcnn_quality import ROWS, quality_keys, quality_scalars
from ..core.failures import ConfigurationError, ConfigurationTypeError
from ..core.graph_sums import published_sums
from ..core.results import LOGS_KEY
from ..core.resolve import layer_outputs
from .epoch_scalars import EpochScalars

#: matterport's `Config.BBOX_STD_DEV`.
BBOX_STD_DEV = (0.1, 0.1, 0.2, 0.2)
PROPOSAL_TARGETS = 'proposal_targets'


def apply_box_deltas(boxes, deltas):
    """`(y1, x1, y2, x2)` boxes moved by `(dy, dx, log(dh), log(dw))` deltas, as
    matterport's `apply_box_deltas_graph`."""
    import tensorflow as tf
    height = boxes[:, 2] - boxes[:, 0]
    width = boxes[:, 3] - boxes[:, 1]
    center_y = boxes[:, 0] + 0.5 * height + deltas[:, 0] * height
    center_x = boxes[:, 1] + 0.5 * width + deltas[:, 1] * width
    height = height * tf.exp(deltas[:, 2])
    width = width * tf.exp(deltas[:, 3])
    y1 = center_y - 0.5 * height
    x1 = center_x - 0.5 * width
    return tf.stack([y1, x1, y1 + height, x1 + width], axis=1)


def box_iou(a, b):
    """IoU of each pair of rows of `a` and `b` (`(n, 4)` boxes), 0 where both are empty."""
    import tensorflow as tf
    height = tf.maximum(tf.minimum(a[:, 2], b[:, 2]) - tf.maximum(a[:, 0], b[:, 0]), 0.)
    width = tf.maximum(tf.minimum(a[:, 3], b[:, 3]) - tf.maximum(a[:, 1], b[:, 1]), 0.)
    intersection = height * width
    union = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) +
             (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - intersection)
    # TensorFlow 1.x's `where` (no `compat.v2` before 1.14): all three have one shape.
    return tf.where(union > 0., intersection / tf.maximum(union, 1e-30), tf.zeros_like(union))


def quality_sums(rois, target_class_ids, target_bbox, target_mask, mrcnn_bbox, mrcnn_mask,
                 num_classes, bbox_std_dev=BBOX_STD_DEV, threshold=0.5):
    """The `(5, num_classes)` float64 sums of one batch (rows `ROWS`), as TensorFlow ops.

    # Arguments
        rois, target_class_ids, target_bbox, target_mask: `proposal_targets`' outputs,
            `(B, R, 4)`, `(B, R)`, `(B, R, 4)`, `(B, R, h, w)`.
        mrcnn_bbox, mrcnn_mask: the heads' outputs, `(B, R, classes, 4)` and
            `(B, R, h, w, classes)`.
    """
    import tensorflow as tf
    with tf.name_scope('getpredict_mrcnn_quality'):
        ids = tf.cast(target_class_ids, tf.int32)
        positive = tf.where(ids > 0)                                       # (P, 2): b, r
        classes = tf.gather_nd(ids, positive)                              # (P,)
        at_class = tf.stack([tf.range(tf.size(classes)), classes], axis=1)
        # Only each positive ROI's mask at its own class: one gather of P x h x w
        # scores (not P x h x w x classes), through a free reshape.
        shape = tf.shape(mrcnn_mask)
        pixel_count = shape[2] * shape[3]
        flat = tf.reshape(mrcnn_mask, [-1, pixel_count, shape[4]])
        roi = tf.cast(positive[:, 0], tf.int32) * shape[1] + tf.cast(positive[:, 1], tf.int32)
        grid = tf.zeros([tf.size(classes), pixel_count], tf.int32)
        index = tf.stack([grid + roi[:, None], grid + tf.range(pixel_count)[None],
                          grid + classes[:, None]], axis=2)
        predicted = tf.gather_nd(flat, index) >= threshold                 # (P, h * w)
        target = tf.reshape(tf.gather_nd(target_mask, positive), [-1, pixel_count]) >= 0.5

        def pixels(mask):
            return tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)

        std = tf.constant(bbox_std_dev, tf.float32)
        boxes = tf.cast(tf.gather_nd(rois, positive), tf.float32)
        deltas = tf.gather_nd(tf.gather_nd(mrcnn_bbox, positive), at_class)
        iou = box_iou(apply_box_deltas(boxes, tf.cast(deltas, tf.float32) * std),
                      apply_box_deltas(boxes, tf.cast(tf.gather_nd(target_bbox, positive),
                                                      tf.float32) * std))
        rows = [tf.ones_like(classes), pixels(tf.logical_and(predicted, target)),
                pixels(predicted), pixels(target), iou]
        return tf.stack([tf.math.unsorted_segment_sum(tf.cast(row, tf.float64), classes,
                                                      num_classes) for row in rows])


class MaskRCNNQualitySums(object):
    """The graph sum of the mask and box heads' quality (`get_predict={'sums': [...]}`).

    # Arguments
        num_classes: the model's classes, background included.
        bbox_std_dev: the config's `BBOX_STD_DEV`.
        threshold: mask score from which a pixel is predicted (0.5: matterport's
            `unmold_mask`).
        name: the key of its totals under `logs['val_gts_and_preds']['sums']`.
    """

    def __init__(self, num_classes, bbox_std_dev=BBOX_STD_DEV, threshold=0.5,
                 name='mrcnn_quality'):
        self.num_classes = int(num_classes)
        self.bbox_std_dev = tuple(float(v) for v in np.ravel(bbox_std_dev))
        self.threshold = float(threshold)
        self.name = name
        self.shape = (len(ROWS), self.num_classes)
        self.key = ('mrcnn_quality', self.num_classes, self.bbox_std_dev, self.threshold)

    def tensor(self, model):
        """The sums' tensor on `model` (matterport's training model).

        # Raises
            ValueError: In case the model has no `proposal_targets` layer with four
                outputs, no `mrcnn_bbox`/`mrcnn_mask` output, or other classes.
        """
        tensors = layer_outputs(model, [(PROPOSAL_TARGETS, i) for i in range(4)])
        outputs = dict(zip(model.output_names, model.outputs))
        missing = [name for name in ('mrcnn_bbox', 'mrcnn_mask') if name not in outputs]
        if missing:
            raise ConfigurationError(
                'The Mask R-CNN quality sums need the outputs %s; the model\'s '
                'outputs are %s.' % (missing, list(model.output_names)))
        units = outputs['mrcnn_bbox'].shape[2].value
        if units is not None and units != self.num_classes:
            raise ConfigurationError(
                '`class_names` has %d names, but `mrcnn_bbox` has %d classes '
                '(pass `dataset.class_names`, background first).'
                % (self.num_classes, units))
        return quality_sums(*(tensors + [outputs['mrcnn_bbox'], outputs['mrcnn_mask']]),
                            num_classes=self.num_classes, bbox_std_dev=self.bbox_std_dev,
                            threshold=self.threshold)

    def __repr__(self):
        return 'MaskRCNNQualitySums(num_classes=%d, bbox_std_dev=%r, threshold=%g)' % (
            self.num_classes, self.bbox_std_dev, self.threshold)


class MaskRCNNQualityMetrics(EpochScalars):
    """Per-class quality of the mask and box heads every epoch, in constant memory.

    It asks for the graph sum `MaskRCNNQualitySums` (`get_predict={'sums': [...]}`): in
    the validation pass that computes `val_loss`, each batch's positive ROIs are folded
    on the graph into a `(5, classes)` array, so `mrcnn_mask` is never fetched and the
    memory does not grow with the batches. Under Horovod the ranks' sums are added by
    the reducing mode's checked allreduce. Writes into the epoch logs, for every class
    but background: `<prefix>mrcnn_mask_iou_<class>`, `<prefix>mrcnn_mask_dice_<class>`
    (pixels of the ROI's mask at its target class `>= mask_threshold` against
    `target_mask`, pooled over the class's positive ROIs), `<prefix>mrcnn_bbox_iou_<class>`
    (mean IoU of the box `mrcnn_bbox`'s deltas give the ROI and the box the target
    deltas give), and each `..._mean` over the classes with positive ROIs. The same keys
    every epoch: NaN for a class without positive ROI that epoch (all NaN when nothing
    was captured). Written in `on_predictions_published`, so `TensorBoard` and
    `ModelCheckpoint(monitor='val_mrcnn_mask_iou_mean', mode='max')` see them.

    # Arguments
        class_names: the dataset's class names, background first
            (`dataset.class_names`).
        bbox_std_dev: the config's `BBOX_STD_DEV` (matterport's default).
        mask_threshold: mask score from which a pixel counts as predicted.
        prefix: start of every key, `'val_'` by default.

    # Attributes
        last_sums: the last epoch's `(5, classes)` sums (`None` before), rows
            `analysis.mask_rcnn_quality.ROWS`.

    # Raises
        TypeError: In case `class_names` is not a list of strings.
        ValueError: In case `class_names` has fewer than two names, `bbox_std_dev`
            is not four positive numbers or `mask_threshold` is not in `[0, 1]`.
        ConfigurationError: At the first validation batch, in case the model is not
            a Mask R-CNN training model of `len(class_names)` classes.

    # Example
    ```python
    with keras_getpredict.capturing(callbacks=[
            MaskRCNNQualityMetrics(dataset_val.class_names, config.BBOX_STD_DEV)]):
        model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE,
                    epochs=40, layers='heads')
    ```
    """

    def __init__(self, class_names, bbox_std_dev=BBOX_STD_DEV, mask_threshold=0.5,
                 prefix='val_'):
        super(MaskRCNNQualityMetrics, self).__init__()
        if not isinstance(class_names, (list, tuple)) or not all(
                isinstance(n, six.string_types) for n in class_names):
            raise ConfigurationTypeError(
                '`class_names` should be a list of strings, background first; got %r.'
                % (class_names,))
        if len(class_names) < 2:
            raise ConfigurationError(
                '`class_names` should name background and at least one class; '
                'got %r.' % (class_names,))
        std = np.ravel(bbox_std_dev) if not isinstance(bbox_std_dev, six.string_types) \
            else []
        if len(std) != 4 or not all(isinstance(v, numbers.Real) and v > 0 for v in std):
            raise ConfigurationError(
                '`bbox_std_dev` should be four positive numbers (the config\'s '
                '`BBOX_STD_DEV`); got %r.' % (bbox_std_dev,))
        if isinstance(mask_threshold, bool) or not isinstance(mask_threshold, numbers.Real) \
                or not 0. <= mask_threshold <= 1.:
            raise ConfigurationError(
                '`mask_threshold` should be a number in [0, 1]; got %r.'
                % (mask_threshold,))
        self.class_names = list(class_names)
        self.prefix = prefix
        self.sums = MaskRCNNQualitySums(len(class_names), std, mask_threshold)
        self.last_sums = None
        # Asked of `fit_generator`: the graph sum alone, no array kept.
        self.get_predict = {'sums': [self.sums]}

    def expected_keys(self):
        return quality_keys(self.class_names, self.prefix)

    def log_epoch(self, epoch, logs):
        sums = published_sums(logs.get(LOGS_KEY), self.sums.name)
        if sums is None:
            return None
        self.last_sums = np.array(sums)
        # Inside the callback's failure boundary (EpochScalars runs `log_epoch` there).
        return quality_scalars(sums, self.class_names, self.prefix)
