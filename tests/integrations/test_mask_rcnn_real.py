"""The Mask R-CNN callbacks on matterport's real model (PyPI `mrcnn==0.2`), trained for two
tiny epochs on shapes the test draws itself. Run by `nox -s mrcnn`; skipped elsewhere.

The training loop is `MaskRCNN.train` itself, unedited: its own `fit_generator` call with
its own `TensorBoard` and `ModelCheckpoint`, `workers=cpu_count()` and
`use_multiprocessing=True`. mrcnn 0.2's `train` takes no callbacks, so ours come in through
a `keras_getpredict.capturing` block around it, and ask for the capture they need.
"""
import glob
import os

import numpy as np
import pytest

pytest.importorskip('mrcnn.model')
# Training takes ~3 min alone, over 7 min on a loaded 2-core machine.
pytestmark = [pytest.mark.mrcnn, pytest.mark.timeout(1800)]

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_getpredict  # noqa: E402
from mrcnn import model as modellib  # noqa: E402
from mrcnn import utils  # noqa: E402

from keras_getpredict.callbacks import TensorBoardPredictions  # noqa: E402
from keras_getpredict.mask_rcnn import (DetectionMetrics, ImageDetections,  # noqa: E402
                                        MaskRCNNDetectionMetrics, MaskRCNNHeadMetrics)
from support.mrcnn_shapes import (InferenceConfig, ShapesConfig, ShapesDataset,  # noqa: E402
                                  fix_heads, start_from_anchors)
from support.mrcnn_references import (cocoeval_ap50, matterport_ap,  # noqa: E402
                                      sklearn_head_reference)


def _event_tags(log_dir):
    tags = {}
    for path in glob.glob(os.path.join(log_dir, 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    return tags


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    # Installed for the training only: under xdist other files' tests share this worker.
    with keras_getpredict.patched():
        return _train(tmp_path_factory)


# What `train` may train: every layer but the two that `fix_heads` fixes.
TRAINABLE = r'(?!mrcnn_class_logits$|mrcnn_bbox_fc$).*'


def _train(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mrcnn'))
    config = ShapesConfig()
    train_set, val_set = ShapesDataset(8, seed=0), ShapesDataset(6, seed=1)
    model = modellib.MaskRCNN(mode='training', config=config, model_dir=root)
    fix_heads(model)
    start_from_anchors(model)
    heads = MaskRCNNHeadMetrics(class_names=val_set.class_names, verbose=0)
    detections = MaskRCNNDetectionMetrics(
        val_set, InferenceConfig(), modellib.load_image_gt, mask_rcnn_class=modellib.MaskRCNN,
        model_dir=root, n_images=4, every=2, log_dir=model.log_dir, verbose=0)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
    # A filepath that formats a head metric: every epoch must have the key.
    checkpoint = os.path.join(root, 'best.{epoch}-{val_rpn_roc_auc:.4f}.h5')
    best = keras.callbacks.ModelCheckpoint(checkpoint, monitor='val_rpn_roc_auc', mode='max',
                                           save_best_only=True, save_weights_only=True)
    with keras_getpredict.capturing(callbacks=[
            heads, TensorBoardPredictions(model.log_dir, metrics=heads, pr_curves=False),
            detections, best, record]):
        model.train(train_set, val_set, learning_rate=config.LEARNING_RATE, epochs=2,
                    layers=TRAINABLE)
    # Read now: each test starts with a fresh Keras session.
    inference = detections.inference_model.keras_model
    copied = {name: [np.array_equal(mine, theirs) for mine, theirs in zip(
        inference.get_layer(name).get_weights(),
        model.keras_model.get_layer(name).get_weights())]
        for name in ('mrcnn_class_logits', 'res2a_branch2a', 'rpn_model')}
    return {'root': root, 'log_dir': model.log_dir, 'seen': seen, 'detections': detections,
            'copied': copied, 'val_set': val_set,
            'history': dict(model.keras_model.history.history),
            'checkpoints': glob.glob(os.path.join(root, 'best.*.h5'))}


def test_head_metrics_equal_scikit_learn_every_epoch(trained):
    assert len(trained['seen']) == 2
    batch_size = ShapesConfig().BATCH_SIZE
    for logs in trained['seen']:
        preds = logs['val_gts_and_preds']
        target_ids = np.concatenate(preds['layers']['proposal_targets/1'])
        assert target_ids.shape == (2 * batch_size,
                                    ShapesConfig.TRAIN_ROIS_PER_IMAGE)
        expected, n_real = sklearn_head_reference(preds)
        assert 0 < n_real <= target_ids.size
        for key, value in expected.items():
            assert logs[key] == pytest.approx(value, nan_ok=True), key


def test_head_metrics_reach_history_tensorboard_and_checkpoint(trained):
    history = trained['history']
    for key in ('val_mrcnn_class_f1_macro', 'val_rpn_roc_auc', 'val_mrcnn_class_recall_circle',
                'val_loss', 'val_mrcnn_class_loss'):
        assert len(history[key]) == 2, key
    assert 'val_gts_and_preds' not in history
    # MaskRCNN.train's own TensorBoard, first in its list, wrote our scalars each epoch.
    tags = _event_tags(trained['log_dir'])
    for tag in ('val_mrcnn_class_f1_macro', 'val_rpn_roc_auc', 'val_mrcnn_class_recall_circle',
                'val_det_map50_coco101'):
        assert tag in tags, sorted(tags)
    assert tags['val_rpn_roc_auc'] == [0, 1]
    # every=2: evaluated after the second epoch; NaN under the same key after the first.
    assert tags['val_det_map50_matterport'] == [0, 1]
    assert tags['confusion_matrix/image_summary'] == [0, 1]  # the ROI head's, each epoch
    assert tags['val_det_confusion_matrix/image_summary'] == [1]
    assert trained['checkpoints'], 'ModelCheckpoint formatted no val_rpn_roc_auc filepath'


def test_detection_metrics_on_the_trained_model(trained):
    detections = trained['detections']
    assert [epoch for epoch, _ in detections.history] == [1]  # the last epoch: no rerun
    logs = trained['seen'][1]
    epoch, result = detections.history[0]
    images = result.images
    assert len(images) == 4 and sum(len(im.pred_boxes) for im in images) > 0
    # The inference model holds the training weights, copied by name.
    for name, equal in trained['copied'].items():
        assert equal and all(equal), name
    # COCO: the stock COCOeval on the same detections.
    assert logs['val_det_map50_coco101'] == pytest.approx(cocoeval_ap50(images, [1, 2]),
                                                          nan_ok=True)
    # matterport: compute_ap of each image and class on its own.
    compared = 0
    for image in images:
        for c in (1, 2):
            gt, pred = np.asarray(image.gt_class_ids) == c, np.asarray(image.pred_class_ids) == c
            if not gt.any() or not pred.any():
                continue
            alone = ImageDetections(np.asarray(image.gt_boxes)[gt],
                                    np.asarray(image.gt_class_ids)[gt],
                                    np.asarray(image.pred_boxes)[pred],
                                    np.asarray(image.pred_class_ids)[pred],
                                    np.asarray(image.pred_scores)[pred])
            reference = matterport_ap(utils, alone)
            if reference is not None:
                ours = DetectionMetrics([alone], trained['val_set'].class_names)
                assert ours.ap['matterport'][c] == pytest.approx(reference)
                compared += 1
    assert compared > 0
    assert logs['val_det_seconds_per_image'] > 0
    print('detection: %.3f s per image' % logs['val_det_seconds_per_image'])
