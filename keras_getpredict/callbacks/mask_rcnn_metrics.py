"""Callbacks for matterport-style Mask R-CNN training.

`MaskRCNNHeadMetrics` scores the training model's heads from the validation pass Keras
already runs (zero extra forward passes); `MaskRCNNQualityMetrics` gives per-class IoU
and Dice of the mask head and IoU of the box head every epoch, folded on the graph in
that same pass; `MaskRCNNDetectionMetrics` runs the user's own model in inference mode
on a few validation images every `every` epochs. None imports `mrcnn`: they take the
user's class, config, dataset and `load_image_gt`, duck-typed, or work on matterport's
graph names.

`MaskRCNNQualitySums` is the graph sum (`get_predict['sums']`, `core/graph_sums.py`): in
each validation session run it picks the positive ROIs of `proposal_targets`, the mask
of each at its target class (a gather: `mrcnn_mask` is never fetched) and the box deltas,
and sums a `(5, classes)` array per batch (`analysis/mask_rcnn_quality.py` has the rows).
"""
from __future__ import absolute_import

import copy
import numbers
import sys
import time
from collections import OrderedDict

import numpy as np
import six

from ..analysis import detection, mask_rcnn_heads, plots
from ..analysis.mask_rcnn_heads import HEADS_GET_PREDICT
from ..analysis.mask_rcnn_quality import ROWS, quality_keys, quality_scalars
from ..analysis.optional_deps import require
from ..analysis.outputs import safe_key
from ..core import families
from ..core.failures import ConfigurationError, ConfigurationTypeError, FailurePolicy
from ..core.graph_sums import published_sums
from ..core.results import LOGS_KEY
from ..core.resolve import layer_outputs
from .epoch_metrics import PER_CLASS_NAMES, EpochMetrics, metric_keys
from .epoch_scalars import EpochScalars

ROI_OUTPUT = 'mrcnn_class'
#: matterport's `Config.BBOX_STD_DEV`.
BBOX_STD_DEV = (0.1, 0.1, 0.2, 0.2)
PROPOSAL_TARGETS = 'proposal_targets'


class MaskRCNNHeadMetrics(EpochMetrics):
    """Per-class metrics of the ROI classifier and objectness metrics of the RPN,
    every epoch, from `logs['val_gts_and_preds']`.

    It asks `fit_generator` for what it reads, `HEADS_GET_PREDICT` (see
    `keras_getpredict.mask_rcnn`), so passing it in `custom_callbacks` (or in a
    `keras_getpredict.capturing` block around `MaskRCNN.train`) is enough. The ROI
    classifier is scored over the ROIs `proposal_targets` sampled from the validation
    images (padding ROIs left out, background is class 0); the RPN over the anchors
    `input_rpn_match` marks positive (1) or negative (-1). Writes into the epoch logs:
    `<prefix>mrcnn_class_{precision,recall,f1}_<class>`,
    `<prefix>mrcnn_class_accuracy`, `<prefix>mrcnn_class_{precision,recall,f1}_{macro,
    micro,weighted}`, `<prefix>mrcnn_class_roc_auc_{macro,micro}` and
    `<prefix>rpn_{precision,recall,roc_auc}`, in `on_predictions_published`, so
    `TensorBoard` and `ModelCheckpoint(monitor=...)` see them wherever they stand in
    the list. The same keys every epoch: the ROI keys are NaN in an epoch whose
    `proposal_targets` sampled no ROI (the RPN's are computed all the same). For the
    confusion-matrix image, add
    `TensorBoardPredictions(log_dir, metrics=this_callback, pr_curves=False)`.

    # Arguments
        class_names: the dataset's class names, background first
            (`dataset.class_names`).
        rpn_threshold: objectness score from which an anchor counts as positive.
        verbose: print the ROI classifier's per-class table each epoch; `None`
            follows `fit`'s verbosity.
        prefix: start of every key, `'val_'` by default.

    # Attributes
        last_results: `OrderedDict` `{'mrcnn_class': ClassificationMetrics}` of
            the last epoch (empty when it sampled no ROI); `last_rpn`: its
            `RPNMetrics`.

    # Raises
        ValueError: At the first epoch with predictions, in case they miss what
            `HEADS_GET_PREDICT` selects or `class_names` does not fit.

    # Example
    ```python
    import keras_getpredict; keras_getpredict.install()
    from keras_getpredict.mask_rcnn import MaskRCNNHeadMetrics
    heads = MaskRCNNHeadMetrics(class_names=dataset_val.class_names)
    model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE,
                epochs=40, layers='heads', custom_callbacks=[heads])
    ```
    """

    def __init__(self, class_names, rpn_threshold=0.5, verbose=None, prefix='val_'):
        super(MaskRCNNHeadMetrics, self).__init__(
            outputs=ROI_OUTPUT, task='multiclass', class_names=list(class_names),
            per_class=True, verbose=verbose, prefix=prefix)
        self.rpn_threshold = rpn_threshold
        self.last_rpn = None
        # Asked of `fit_generator`: the two heads' outputs and their targets.
        self.get_predict = copy.deepcopy(HEADS_GET_PREDICT)

    missing_advice = (', so it computes nothing. Call `keras_getpredict.install()` before '
                      '`MaskRCNN.train` / `fit_generator`, and pass validation data.')

    def validate(self, gts_and_preds):
        mask_rcnn_heads.head_arrays(gts_and_preds)  # raises naming what is missing
        n_classes = np.shape(gts_and_preds['y_pred'][0][
            gts_and_preds.output_names.index(ROI_OUTPUT)])[-1]
        if len(self.class_names) != n_classes:
            raise ConfigurationError(
                '`class_names` has %d names, but `mrcnn_class` scores %d '
                'classes (pass `dataset.class_names`, background first).'
                % (len(self.class_names), n_classes))

    def results_for(self, gts_and_preds):
        if self._source is not gts_and_preds:
            roi, rpn = mask_rcnn_heads.head_metrics(gts_and_preds, self.class_names,
                                                    self.rpn_threshold)
            # No entry for an epoch whose `proposal_targets` sampled no ROI.
            self.last_results = OrderedDict([(ROI_OUTPUT, roi)] if roi is not None else [])
            self.last_rpn, self._source = rpn, gts_and_preds
        return self.last_results

    def scalars(self, results):
        start = self.prefix + ROI_OUTPUT + '_'
        # The ROI keys are written every epoch: NaN in one that sampled no ROI.
        values = OrderedDict((key, np.nan) for key in metric_keys(
            start, self.class_names, per_class=True))
        for output, result in results.items():
            for name, value in result.scalars().items():
                values[start + name] = value
            for class_name, per in result.per_class():
                for name in PER_CLASS_NAMES:
                    values['%s%s_%s' % (start, name, safe_key(class_name))] = per[name]
        for name, value in self.last_rpn.scalars().items():
            values['%srpn_%s' % (self.prefix, name)] = value
        return values


def copy_weights_by_name(source, target):
    """Copies, in memory, the weights of every layer of `target` that `source` has
    by the same name (e.g. a Mask R-CNN training model into its inference model).

    # Returns
        The number of layers copied.

    # Raises
        ValueError: In case a layer of that name holds weights of other shapes.
    """
    by_name = dict((layer.name, layer) for layer in source.layers)
    pairs = []
    for layer in target.layers:
        twin = by_name.get(layer.name)
        if twin is None or not layer.weights:
            continue
        if _shapes(layer.weights) != _shapes(twin.weights):
            raise ValueError('Layer %r has weights of shapes %s in the training model but %s '
                             'in the inference model.' % (
                                 layer.name, _shapes(twin.weights), _shapes(layer.weights)))
        pairs.append((layer.weights, twin.weights))
    # One run reads every weight, one run writes them through each variable's own
    # initializer with its value fed (no new ops), in the session of the models' stack.
    session = families.family_of(target).session()
    values = session.run([w for _, theirs in pairs for w in theirs])
    variables = [w for mine, _ in pairs for w in mine]
    session.run([v.initializer for v in variables],
                {v.initializer.inputs[1]: value for v, value in zip(variables, values)})
    return len(pairs)


def _shapes(weights):
    return [tuple(w.shape.as_list()) for w in weights]


def threshold_label(iou_threshold):
    """The IoU threshold in percent as the AP keys spell it: `'50'` for 0.5, `'33_3'`
    for 0.333."""
    return ('%g' % (100. * iou_threshold)).replace('.', '_')


class MaskRCNNDetectionMetrics(EpochScalars):
    """Detection metrics of the user's Mask R-CNN in inference mode, on validation images,
    every `every` epochs and at the end of training.

    The inference model is built once (`model_factory()`, or
    `mask_rcnn_class(mode='inference', config=config, model_dir=model_dir)`) and gets
    the training model's weights copied in memory by layer name before each
    evaluation. Each image comes from `load_image_gt(dataset, config, image_id,
    use_mini_mask=False)` and goes through `detect([image])`. Detections match ground
    truths at IoU >= `iou_threshold` (boxes). Writes into the epoch logs, with `<T>`
    the threshold in percent (`50` for 0.5, `30` for 0.3, `33_3` for 0.333):
    `<prefix>ap<T>_matterport_<class>`, `<prefix>ap<T>_coco101_<class>`,
    `<prefix>map<T>_matterport`, `<prefix>map<T>_coco101`,
    `<prefix>{precision,recall}_<class>` and `<prefix>seconds_per_image` (the same keys
    every epoch: NaN in the epochs it does not evaluate), and keeps
    each evaluation in `history` (`(epoch, DetectionMetrics)`; epoch `'train_end'`
    for the final one when the last epoch was not evaluated).

    # Arguments
        dataset: the validation dataset (`image_ids`, `class_names`).
        config: the inference config (`IMAGES_PER_GPU = 1`).
        load_image_gt: the user's `load_image_gt` (e.g. `mrcnn.model.load_image_gt`).
        mask_rcnn_class: the user's `MaskRCNN` class; or give `model_factory`.
        model_factory: callable with no argument returning an object with
            `keras_model` and `detect`.
        model_dir: passed to `mask_rcnn_class`.
        image_ids: the images to evaluate; by default the first `n_images` of
            `dataset.image_ids`.
        n_images: see `image_ids`.
        every: evaluate after every `every`-th epoch (`0`: only at train end).
        iou_threshold: a detection matches a ground truth from this IoU on, in
            `(0, 1]`; the AP keys name it.
        prefix: start of every key, `'val_det_'` by default.
        log_dir: when given, the detection confusion matrix (unmatched
            detections and ground truths in the background row and column) goes
            there as a TensorBoard image, tag `<prefix>confusion_matrix`.
        verbose: print the per-class table after each evaluation.

    # Raises
        ValueError/TypeError: At construction, in case neither or both of
            `mask_rcnn_class` and `model_factory` are given, `every` is negative or
            `iou_threshold` is not in `(0, 1]`.
    """

    def __init__(self, dataset, config, load_image_gt, mask_rcnn_class=None,
                 model_factory=None, model_dir='.', image_ids=None, n_images=10, every=1,
                 iou_threshold=0.5, prefix='val_det_', log_dir=None, verbose=1):
        super(MaskRCNNDetectionMetrics, self).__init__()
        if (mask_rcnn_class is None) == (model_factory is None):
            raise ConfigurationError(
                'Give one of `mask_rcnn_class` (your `MaskRCNN` class) and '
                '`model_factory` (a callable returning the inference model).')
        if not callable(load_image_gt):
            raise ConfigurationTypeError(
                '`load_image_gt` should be your `load_image_gt` function, e.g. '
                '`mrcnn.model.load_image_gt`; got %r.' % (load_image_gt,))
        if isinstance(every, bool) or not isinstance(every, six.integer_types) or every < 0:
            raise ConfigurationError(
                '`every` should be a number of epochs >= 0; got %r.' % (every,))
        if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, numbers.Real) or \
                not 0. < iou_threshold <= 1.:
            raise ConfigurationError('`iou_threshold` should be a number in (0, 1]; got %r.'
                                     % (iou_threshold,))
        self.dataset = dataset
        self.config = config
        self.load_image_gt = load_image_gt
        self.model_factory = model_factory or (lambda: mask_rcnn_class(
            mode='inference', config=config, model_dir=model_dir))
        self.image_ids = (list(image_ids) if image_ids is not None
                          else list(dataset.image_ids)[:n_images])
        self.every = every
        self.iou_threshold = iou_threshold
        self.prefix = prefix
        self.log_dir = log_dir
        if log_dir is not None:
            require(*plots.REQUIRES)
        self.verbose = verbose
        self._writer = None
        self._last_epoch = None
        self.inference_model = None
        self.history = []
        self.failure_boundary = FailurePolicy(type(self).__name__)
        self._done_epoch = None

    def _due(self, epoch):
        return self.every and (epoch + 1) % self.every == 0

    def on_train_begin(self, logs=None):
        super(MaskRCNNDetectionMetrics, self).on_train_begin(logs)
        self._done_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        super(MaskRCNNDetectionMetrics, self).on_epoch_end(epoch, logs)
        self._last_epoch = epoch

    def on_train_end(self, logs=None):
        if self._last_epoch is not None and self._done_epoch != self._last_epoch:
            self._evaluate_and_log('train_end')
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def log_epoch(self, epoch, logs):
        # Not due: no values (NaN under the keys). Due: the evaluation's, or NaN.
        return self._evaluate_and_log(epoch) if self._due(epoch) else None

    def expected_keys(self):
        names = getattr(self.dataset, 'class_names', None)
        return list(self.scalar_keys(names)) if names is not None else []

    def _evaluate_and_log(self, epoch):
        self._done_epoch = epoch
        result = self.evaluate()
        if result is None:
            return None
        values = self.scalars(result)
        self.history.append((epoch, result))
        if self.log_dir is not None:
            self.failure_boundary.run('writing the detection confusion matrix',
                                      self._write_image, result, epoch)
        if self.verbose:
            sys.stdout.write(self.table(result, epoch) + '\n')
            sys.stdout.flush()
        return values

    def _write_image(self, result, epoch):
        from tensorboard.plugins.image import summary as image_summary
        if self._writer is None:
            self._writer = families.tf_v1().summary.FileWriter(self.log_dir,
                                                               filename_suffix='.detection')
        title = 'Detections, %s' % ('end of training' if epoch == 'train_end'
                                    else 'epoch %d' % (epoch + 1))
        pixels = plots.figure_to_rgb(plots.confusion_matrix_figure(result, title))
        step = self._last_epoch if epoch == 'train_end' else epoch
        self._writer.add_summary(image_summary.pb(
            self.prefix + 'confusion_matrix', pixels[None], max_outputs=1), step)
        self._writer.flush()

    def _inference_model(self):
        if self.inference_model is None:
            self.inference_model = self.model_factory()
        copy_weights_by_name(self.model, self.inference_model.keras_model)
        return self.inference_model

    def evaluate(self):
        """Copies the weights, runs `detect` on the images and returns their
        `DetectionMetrics` (its `seconds_per_image` is the detection time alone),
        or `None` when computing the metrics failed outside strict mode."""
        model = self._inference_model()
        images, seconds = [], 0.
        for image_id in self.image_ids:
            image, _, gt_class_ids, gt_boxes, _ = self.load_image_gt(
                self.dataset, self.config, image_id, use_mini_mask=False)
            start = time.time()
            found = model.detect([image], verbose=0)[0]
            seconds += time.time() - start
            images.append(detection.ImageDetections(gt_boxes, gt_class_ids, found['rois'],
                                                    found['class_ids'], found['scores']))
        # Errors of the user's model and data propagate; ours warn (failure policy).
        result = self.failure_boundary.run(
            'computing the detection metrics', detection.DetectionMetrics, images,
            self.dataset.class_names, self.iou_threshold)
        if result is None:
            return None
        result.images = images
        result.seconds_per_image = seconds / max(len(images), 1)
        return result

    def scalar_keys(self, class_names):
        """The logs keys, in order: `(key, what)` pairs, what naming the value of a
        `DetectionMetrics` (`('mean_ap', method)`, `('ap_<method>', class)`,
        `('precision'|'recall', class)`, `('seconds_per_image', None)`)."""
        ap = 'ap' + threshold_label(self.iou_threshold)
        keys = OrderedDict()
        for method in detection.AP_METHODS:
            keys['%sm%s_%s' % (self.prefix, ap, method)] = ('mean_ap', method)
        # Background is no detection class.
        for name in list(class_names)[1:]:
            key = safe_key(name)
            for method in detection.AP_METHODS:
                keys['%s%s_%s_%s' % (self.prefix, ap, method, key)] = ('ap_' + method, name)
            keys['%sprecision_%s' % (self.prefix, key)] = ('precision', name)
            keys['%srecall_%s' % (self.prefix, key)] = ('recall', name)
        keys[self.prefix + 'seconds_per_image'] = ('seconds_per_image', None)
        return keys

    def scalars(self, result):
        """The logs entries of one `DetectionMetrics`, as an `OrderedDict`."""
        per_class = dict(result.per_class())
        values = OrderedDict()
        for key, (what, which) in self.scalar_keys(result.class_names).items():
            if what == 'mean_ap':
                values[key] = result.mean_ap[which]
            elif what == 'seconds_per_image':
                values[key] = result.seconds_per_image
            else:
                values[key] = per_class[which][what]
        return values

    def table(self, result, epoch):
        when = 'at the end of training' if epoch == 'train_end' else 'after epoch %d' % (
            epoch + 1)
        rows = ['Detection metrics %s (%d images, IoU >= %.2f, %.2f s/image; COCO AP by %s):'
                % (when, len(result.images), self.iou_threshold, result.seconds_per_image,
                   result.coco_implementation),
                '%16s %12s %12s %10s %10s' % (
                    '', 'AP matterport', 'AP coco101', 'precision', 'recall')]
        for name, per in result.per_class():
            rows.append('%16s %12.3f %12.3f %10.3f %10.3f' % (
                name, per['ap_matterport'], per['ap_coco101'], per['precision'],
                per['recall']))
        rows.append('%16s %12.3f %12.3f' % (
            'mAP', result.mean_ap['matterport'], result.mean_ap['coco101']))
        return '\n'.join(rows)


# --- mask and box quality, from a graph sum ---------------------------------------------


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
