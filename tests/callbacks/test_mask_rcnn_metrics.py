"""Mask R-CNN head and detection metrics on crafted arrays and boxes (no mrcnn needed).

References: scikit-learn on the captured arrays for the head metrics; hand-computed APs,
pycocotools' stock `COCOeval` and matterport's `utils.compute_ap` (each skipped where not
installed) for the detection metrics.
"""
import numpy as np
import pytest
from support.stack import keras

from keras_getpredict.core.results import GtsAndPreds
from keras_getpredict.mask_rcnn import (DetectionMetrics, ImageDetections,
                                        MaskRCNNDetectionMetrics, MaskRCNNHeadMetrics,
                                        copy_weights_by_name)
from keras_getpredict.analysis import detection
from support.mrcnn_references import (CLASS_NAMES, cocoeval_ap50, matterport_ap,
                                      sklearn_head_reference)


def _captured(rng, n_batches=3, batch=2, rois=6, anchors=10):
    """Per-batch arrays shaped like the training model's, last ROIs of each image padding."""
    y_pred, rpn_match, layer_rois, target_ids = [], [], [], []
    for _ in range(n_batches):
        scores = rng.dirichlet(np.ones(3), size=(batch, rois)).astype('float32')
        rpn = rng.dirichlet(np.ones(2), size=(batch, anchors)).astype('float32')
        ids = rng.randint(0, 3, size=(batch, rois)).astype('int32')
        boxes = rng.uniform(0.1, 0.9, size=(batch, rois, 4)).astype('float32')
        boxes[:, -2:] = 0  # padding rows: all-zero ROIs, class id 0
        ids[:, -2:] = 0
        y_pred.append([scores, rpn])
        rpn_match.append(rng.choice([-1, 0, 1], size=(batch, anchors, 1)).astype('int32'))
        layer_rois.append(boxes)
        target_ids.append(ids)
    return GtsAndPreds(['mrcnn_class', 'rpn_class'], [[None, None]] * n_batches, y_pred,
                       {'input_rpn_match': rpn_match},
                       {'proposal_targets/0': layer_rois, 'proposal_targets/1': target_ids})


def test_head_metrics_equal_scikit_learn_on_the_captured_arrays():
    preds = _captured(np.random.RandomState(0))
    logs = {'val_gts_and_preds': preds}
    MaskRCNNHeadMetrics(CLASS_NAMES, verbose=0).on_predictions_published(0, logs)
    expected, n_real = sklearn_head_reference(preds)
    assert n_real == 3 * 2 * 4  # padding left out
    for key, value in expected.items():
        assert logs[key] == pytest.approx(value), key


def test_head_metrics_say_what_is_missing():
    preds = _captured(np.random.RandomState(1))
    del preds['layers']
    with pytest.raises(ValueError, match="layer output 'proposal_targets/0'.*HEADS_GET_PREDICT"):
        MaskRCNNHeadMetrics(CLASS_NAMES).on_predictions_published(0, {'val_gts_and_preds': preds})
    with pytest.raises(ValueError, match='`class_names` has 2 names'):
        MaskRCNNHeadMetrics(['BG', 'square']).on_predictions_published(
            0, {'val_gts_and_preds': _captured(np.random.RandomState(1))})


def _one_class_image():
    # 3 ground truths; detections ranked TP, FP, TP, FP by score.
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]])
    pred = np.array([[0, 0, 10, 10], [60, 60, 70, 70], [20, 20, 30, 31], [0, 0, 10, 10]])
    return ImageDetections(gt, [1, 1, 1], pred, [1, 1, 1, 1], [0.9, 0.8, 0.7, 0.6])


def test_ap_by_hand():
    result = DetectionMetrics([_one_class_image()], ['BG', 'thing'], coco_implementation='numpy')
    assert result.ap['matterport'][1] == pytest.approx(1 / 3. + 1 / 3. * 2 / 3.)
    assert result.ap['coco101'][1] == pytest.approx((34 + 33 * 2 / 3.) / 101)
    assert result.precision[1] == pytest.approx(0.5)
    assert result.recall[1] == pytest.approx(2 / 3.)
    # Unmatched: 2 detections into the background row, 1 ground truth into its column.
    np.testing.assert_array_equal(result.confusion_matrix, [[0, 2], [1, 2]])


@pytest.mark.mrcnn
def test_ap_equals_matterport_compute_ap():
    utils = pytest.importorskip('mrcnn.utils')
    rng = np.random.RandomState(3)
    compared = 0
    for _ in range(20):
        image = _random_image(rng, n_classes=2, size=80)
        ours = DetectionMetrics([image], ['BG', 'thing']).ap['matterport'][1]
        reference = matterport_ap(utils, image)
        if reference is not None:
            # compute_ap ranks every class together: one class here, so per-class == all.
            assert ours == pytest.approx(reference)
            compared += 1
    assert compared >= 5


def _random_image(rng, n_classes=3, size=100, n_gt=6, n_pred=9):
    corner = rng.randint(0, size - 30, size=(n_gt, 2))
    side = rng.randint(8, 30, size=(n_gt, 2))
    gt = np.concatenate([corner, corner + side], axis=1)
    # Detections: jittered copies of some ground truths plus strays.
    pick = rng.randint(0, n_gt, size=n_pred)
    pred = np.clip(gt[pick] + rng.randint(-4, 5, size=(n_pred, 4)), 0, size)
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 2)
    return ImageDetections(gt, rng.randint(1, n_classes, size=n_gt), pred,
                           rng.randint(1, n_classes, size=n_pred), rng.uniform(0.5, 1, n_pred))


@pytest.mark.mrcnn
@pytest.mark.parametrize('seed', range(4))
def test_coco101_ap_equals_cocoeval(seed):
    pytest.importorskip('pycocotools')
    rng = np.random.RandomState(seed)
    images = [_random_image(rng) for _ in range(4)]
    names = ['BG', 'a', 'b']
    reference = cocoeval_ap50(images, [1, 2])
    for implementation in ('numpy', 'pycocotools'):
        result = DetectionMetrics(images, names, coco_implementation=implementation)
        assert result.coco_implementation == implementation
        assert result.mean_ap['coco101'] == pytest.approx(reference, abs=1e-9)
    numpy_ap = DetectionMetrics(images, names, coco_implementation='numpy').ap['coco101']
    coco_ap = DetectionMetrics(images, names, coco_implementation='pycocotools').ap['coco101']
    np.testing.assert_allclose(numpy_ap, coco_ap)


class _FakeMaskRCNN(object):
    """Duck-typed inference model: `keras_model` and `detect`."""

    def __init__(self, found):
        inputs = keras.layers.Input((2,))
        self.keras_model = keras.Model(inputs, keras.layers.Dense(1, name='head')(inputs))
        self.found = found

    def detect(self, images, verbose=0):
        return [self.found]


def test_detection_callback_copies_weights_and_logs_per_class():
    image = _one_class_image()

    def load_image_gt(dataset, config, image_id, use_mini_mask=True):
        assert use_mini_mask is False
        return np.zeros((8, 8, 3)), None, image.gt_class_ids, image.gt_boxes, None

    class Dataset(object):
        image_ids = [0, 1]
        class_names = ['BG', 'thing']

    fake = _FakeMaskRCNN({'rois': image.pred_boxes, 'class_ids': np.array(image.pred_class_ids),
                          'scores': np.array(image.pred_scores)})
    inputs = keras.layers.Input((2,))
    training = keras.Model(inputs, keras.layers.Dense(
        1, name='head', kernel_initializer='ones', bias_initializer='ones')(inputs))
    callback = MaskRCNNDetectionMetrics(Dataset(), None, load_image_gt,
                                        model_factory=lambda: fake, every=2, verbose=0)
    callback.set_model(training)
    logs = {}
    callback.on_train_begin()
    callback.on_epoch_end(0, logs)
    # Not due: every key, NaN (known from the class names before any evaluation).
    assert sorted(logs) == sorted(
        ['val_det_map50_matterport', 'val_det_map50_coco101', 'val_det_ap50_matterport_thing',
         'val_det_ap50_coco101_thing', 'val_det_precision_thing', 'val_det_recall_thing',
         'val_det_seconds_per_image'])
    assert all(np.isnan(v) for v in logs.values())
    callback.on_predictions_published(1, logs)
    np.testing.assert_allclose(fake.keras_model.get_layer('head').get_weights()[0], 1.)
    assert logs['val_det_ap50_matterport_thing'] == pytest.approx(1 / 3. + 2 / 9.)
    assert logs['val_det_map50_matterport'] == pytest.approx(1 / 3. + 2 / 9.)
    assert logs['val_det_recall_thing'] == pytest.approx(2 / 3.)
    assert logs['val_det_seconds_per_image'] >= 0
    callback.on_epoch_end(1, logs)  # already done from the published hook
    callback.on_epoch_end(2, logs)
    assert np.isnan(logs['val_det_map50_matterport'])  # not due: not epoch 1's number
    callback.on_train_end()
    assert [epoch for epoch, _ in callback.history] == [1, 'train_end']


def test_copy_weights_by_name_refuses_other_shapes():
    a = keras.Sequential([keras.layers.Dense(2, name='d', input_shape=(3,))])
    b = keras.Sequential([keras.layers.Dense(2, name='d', input_shape=(4,))])
    with pytest.raises(ValueError, match="Layer 'd'"):
        copy_weights_by_name(a, b)
    c = keras.Sequential([keras.layers.Dense(2, name='d', input_shape=(3,))])
    assert copy_weights_by_name(a, c) == 1
    np.testing.assert_allclose(c.get_weights()[0], a.get_weights()[0])


def test_box_iou():
    assert detection.box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10]])[0, 0] == pytest.approx(1 / 3.)


def _without_rois(preds):
    """The same epoch as if `proposal_targets` had sampled no ROI: all rows padding."""
    layers = dict(preds['layers'])
    layers['proposal_targets/0'] = [np.zeros_like(b) for b in layers['proposal_targets/0']]
    layers['proposal_targets/1'] = [np.zeros_like(b) for b in layers['proposal_targets/1']]
    return GtsAndPreds(preds.output_names, preds['y_true'], preds['y_pred'], preds['inputs'],
                       layers)


def test_rpn_metrics_stand_and_roi_keys_are_nan_when_no_roi_was_sampled():
    from keras_getpredict.mask_rcnn import head_metrics
    preds = _captured(np.random.RandomState(2))
    empty = _without_rois(preds)
    roi, rpn = head_metrics(empty, CLASS_NAMES)
    assert roi is None
    expected, _ = sklearn_head_reference(preds)  # the RPN's arrays are the same
    assert rpn.roc_auc == pytest.approx(expected['val_rpn_roc_auc'])
    # Through the callback, over epochs without, with and without ROIs: the same keys
    # every epoch (ModelCheckpoint's filepath and CSVLogger need them), NaN for the ROI.
    heads = MaskRCNNHeadMetrics(CLASS_NAMES, verbose=0)
    heads.on_train_begin()
    keys = []
    for epoch, epoch_preds in enumerate([empty, preds, empty]):
        logs = {'val_gts_and_preds': epoch_preds}
        heads.on_predictions_published(epoch, logs)
        heads.on_epoch_end(epoch, logs)
        keys.append(sorted(logs))
        assert logs['val_rpn_roc_auc'] == pytest.approx(expected['val_rpn_roc_auc'])
        filepath = 'w.{epoch}-{val_rpn_roc_auc:.4f}-{val_mrcnn_class_f1_macro:.4f}.h5'
        assert filepath.format(epoch=epoch + 1, **logs)
        roi_keys = [k for k in logs if k.startswith('val_mrcnn_class_')]
        if epoch_preds is empty:
            assert all(np.isnan(logs[k]) for k in roi_keys)
        else:
            for key in ('val_mrcnn_class_accuracy', 'val_mrcnn_class_f1_square'):
                assert logs[key] == pytest.approx(expected[key])
    assert keys[0] == keys[1] == keys[2]
    assert 'val_mrcnn_class_recall_circle' in keys[0]


def test_detection_keys_name_their_iou_threshold():
    image = _one_class_image()

    def load_image_gt(dataset, config, image_id, use_mini_mask=True):
        return np.zeros((8, 8, 3)), None, image.gt_class_ids, image.gt_boxes, None

    class Dataset(object):
        image_ids = [0]
        class_names = ['BG', 'thing']

    fake = _FakeMaskRCNN({'rois': image.pred_boxes, 'class_ids': np.array(image.pred_class_ids),
                          'scores': np.array(image.pred_scores)})
    callback = MaskRCNNDetectionMetrics(Dataset(), None, load_image_gt, iou_threshold=0.3,
                                        model_factory=lambda: fake, verbose=0)
    callback.set_model(fake.keras_model)
    logs = {'loss': 1.}
    callback.on_train_begin()
    callback.on_epoch_end(0, logs)
    # At IoU 0.3 the 4th detection ([20, 20, 30, 31] against [20, 20, 30, 30]) still
    # matches, as at 0.5: the same APs, under keys that say 30.
    assert logs['val_det_ap30_matterport_thing'] == pytest.approx(1 / 3. + 2 / 9.)
    assert 'val_det_map30_coco101' in logs
    assert not [k for k in logs if 'ap50' in k]
    with pytest.raises(ValueError, match=r'`iou_threshold` should be a number in \(0, 1\]'):
        MaskRCNNDetectionMetrics(Dataset(), None, load_image_gt, iou_threshold=30,
                                 model_factory=lambda: fake)
    from keras_getpredict.callbacks.mask_rcnn_metrics import threshold_label
    assert [threshold_label(t) for t in (0.5, 0.3, 0.75, 0.333)] == ['50', '30', '75', '33_3']
