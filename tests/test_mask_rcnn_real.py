"""The Mask R-CNN callbacks on matterport's real model (PyPI `mrcnn==0.2`), trained for two
tiny epochs on shapes the test draws itself. Run by `make test-mrcnn`; skipped elsewhere.

The training loop is `MaskRCNN.train`'s own `fit_generator` call (mrcnn 0.2's `train` has no
`custom_callbacks`), with `TensorBoard` first in the list as there.
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
from mrcnn import model as modellib  # noqa: E402
from mrcnn import utils  # noqa: E402

from keras_getpredict.callbacks import TensorBoardPredictions  # noqa: E402
from keras_getpredict.mask_rcnn import (HEADS_GET_PREDICT, DetectionMetrics,  # noqa: E402
                                        ImageDetections, MaskRCNNDetectionMetrics,
                                        MaskRCNNHeadMetrics)
from mrcnn_shapes import (InferenceConfig, ShapesConfig, ShapesDataset,  # noqa: E402
                          fix_heads, start_from_anchors)
from test_mask_rcnn_metrics import (_cocoeval_ap50, matterport_ap,  # noqa: E402
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
    import keras_getpredict
    # Installed for the training only: under xdist other files' tests share this worker.
    with keras_getpredict.patched():
        return _train(tmp_path_factory)


def _train(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mrcnn'))
    config = ShapesConfig()
    train_set, val_set = ShapesDataset(8, seed=0), ShapesDataset(6, seed=1)
    model = modellib.MaskRCNN(mode='training', config=config, model_dir=root)
    model.set_trainable('.*', verbose=0)
    fix_heads(model)
    model.compile(config.LEARNING_RATE, config.LEARNING_MOMENTUM)
    start_from_anchors(model)
    heads = MaskRCNNHeadMetrics(class_names=val_set.class_names, verbose=0)
    detections = MaskRCNNDetectionMetrics(
        val_set, InferenceConfig(), modellib.load_image_gt, mask_rcnn_class=modellib.MaskRCNN,
        model_dir=root, n_images=4, every=2, log_dir=root, verbose=0)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
    checkpoint = os.path.join(root, 'best.h5')
    callbacks = [keras.callbacks.TensorBoard(log_dir=root, write_graph=False),
                 keras.callbacks.ModelCheckpoint(checkpoint, monitor='val_rpn_roc_auc',
                                                 mode='max', save_best_only=True,
                                                 save_weights_only=True),
                 heads, TensorBoardPredictions(root, metrics=heads, pr_curves=False),
                 detections, record]
    model.keras_model.fit_generator(
        modellib.data_generator(train_set, config, shuffle=True, batch_size=config.BATCH_SIZE),
        initial_epoch=0, epochs=2, steps_per_epoch=config.STEPS_PER_EPOCH,
        callbacks=callbacks,
        validation_data=modellib.data_generator(val_set, config, shuffle=True,
                                                batch_size=config.BATCH_SIZE),
        validation_steps=config.VALIDATION_STEPS, max_queue_size=10, workers=1,
        use_multiprocessing=False, verbose=0, get_predict=HEADS_GET_PREDICT)
    # Read now: each test starts with a fresh Keras session.
    inference = detections.inference_model.keras_model
    copied = {name: [np.array_equal(mine, theirs) for mine, theirs in zip(
        inference.get_layer(name).get_weights(),
        model.keras_model.get_layer(name).get_weights())]
        for name in ('mrcnn_class_logits', 'res2a_branch2a', 'rpn_model')}
    return {'root': root, 'seen': seen, 'detections': detections, 'copied': copied,
            'checkpoint': checkpoint, 'val_set': val_set}


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


def test_tensorboard_first_in_the_list_and_checkpoint_see_the_scalars(trained):
    tags = _event_tags(trained['root'])
    for tag in ('val_mrcnn_class_f1_macro', 'val_rpn_roc_auc', 'val_mrcnn_class_recall_circle',
                'val_det_map50_coco101'):
        assert tag in tags, sorted(tags)
    assert tags['val_rpn_roc_auc'] == [0, 1]
    assert tags['val_det_map50_matterport'] == [1]  # every=2: after the second epoch
    assert tags['confusion_matrix/image_summary'] == [0, 1]  # the ROI head's, each epoch
    assert tags['val_det_confusion_matrix/image_summary'] == [1]
    assert os.path.exists(trained['checkpoint'])


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
    assert logs['val_det_map50_coco101'] == pytest.approx(_cocoeval_ap50(images, [1, 2]),
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
