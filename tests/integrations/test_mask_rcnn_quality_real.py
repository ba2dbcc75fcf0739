"""`MaskRCNNQualityMetrics` on matterport's real model (PyPI `mrcnn==0.2`, unedited), two
tiny epochs of `MaskRCNN.train` on drawn shapes: its own `fit_generator` call with
`workers=cpu_count()` and `use_multiprocessing=True`, its own `TensorBoard` and
`ModelCheckpoint`; ours come in through a `keras_getpredict.capturing` block. The same
block captures `proposal_targets`, `mrcnn_bbox` and `mrcnn_mask` in full from the same
session runs, so the graph sums are checked against numpy on the very arrays they folded.
"""
import glob
import os

import numpy as np
import pytest

pytest.importorskip('mrcnn.model')
pytestmark = [pytest.mark.mrcnn, pytest.mark.timeout(1800)]

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_getpredict  # noqa: E402
from mrcnn import model as modellib  # noqa: E402

from keras_getpredict.mask_rcnn import MaskRCNNQualityMetrics  # noqa: E402
from support.mrcnn_references import (QUALITY_REFERENCE_GET_PREDICT,  # noqa: E402
                                      quality_reference_from)
from support.mrcnn_shapes import ShapesConfig, ShapesDataset, start_from_anchors  # noqa: E402

MONITOR = 'val_mrcnn_mask_iou_mean'


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    with keras_getpredict.patched():
        root = str(tmp_path_factory.mktemp('mrcnn_quality'))
        config = ShapesConfig()
        train_set, val_set = ShapesDataset(8, seed=0), ShapesDataset(6, seed=1)
        model = modellib.MaskRCNN(mode='training', config=config, model_dir=root)
        start_from_anchors(model)
        quality = MaskRCNNQualityMetrics(val_set.class_names, config.BBOX_STD_DEV)
        seen = []
        record = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
        best = keras.callbacks.ModelCheckpoint(
            os.path.join(root, 'best.{epoch}-{%s:.4f}.h5' % MONITOR), monitor=MONITOR,
            mode='max', save_best_only=True, save_weights_only=True)
        with keras_getpredict.capturing(get_predict=QUALITY_REFERENCE_GET_PREDICT,
                                        callbacks=[quality, best, record]):
            model.train(train_set, val_set, learning_rate=config.LEARNING_RATE, epochs=2,
                        layers='heads')
        return {'seen': seen, 'log_dir': model.log_dir, 'root': root,
                'history': dict(model.keras_model.history.history),
                'keys': quality.expected_keys(), 'config': config}


def test_values_equal_numpy_on_the_captured_arrays(trained):
    seen, config = trained['seen'], trained['config']
    assert len(seen) == 2
    positives = 0
    for logs in seen:
        preds = logs['val_gts_and_preds']
        assert len(preds['y_pred']) == config.VALIDATION_STEPS
        reference = quality_reference_from(preds, config.NUM_CLASSES, config.BBOX_STD_DEV)
        sums = preds['sums']['mrcnn_quality']
        np.testing.assert_array_equal(sums[:4], reference[:4])  # ROI and pixel counts
        np.testing.assert_allclose(sums[4], reference[4], rtol=1e-5, atol=1e-6)
        assert sums[:, 0].sum() == 0  # background and padding ROIs left out
        positives += int(sums[0].sum())
        rois, inter, pred, target, box = reference
        for c, name in ((1, 'square'), (2, 'circle')):
            if rois[c]:
                assert logs['val_mrcnn_mask_iou_' + name] == pytest.approx(
                    inter[c] / (pred[c] + target[c] - inter[c]))
                assert logs['val_mrcnn_mask_dice_' + name] == pytest.approx(
                    2 * inter[c] / (pred[c] + target[c]))
                assert logs['val_mrcnn_bbox_iou_' + name] == pytest.approx(box[c] / rois[c])
            else:
                assert np.isnan(logs['val_mrcnn_mask_iou_' + name])
    assert positives > 0, 'proposal_targets sampled no positive ROI in either epoch'
    print('positive ROIs: %d; %s' % (positives, [
        (k, round(float(logs[k]), 4)) for logs in seen for k in trained['keys']
        if k.endswith('_mean')]))


def test_keys_reach_history_tensorboard_and_checkpoint(trained):
    history, keys = trained['history'], trained['keys']
    assert MONITOR in keys and 'val_mrcnn_bbox_iou_circle' in keys
    for key in keys:
        assert len(history[key]) == 2, key
    tags = {}
    for path in glob.glob(os.path.join(trained['log_dir'], 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    for key in keys:
        assert tags.get(key) == [0, 1], (key, sorted(tags))
    # ModelCheckpoint(monitor=...) saved exactly the epochs that improved the mean IoU.
    best, expected = -np.inf, []
    for epoch, value in enumerate(history[MONITOR]):
        if np.isfinite(value) and value > best:
            best = value
            expected.append('best.%d-%.4f.h5' % (epoch + 1, value))
    saved = sorted(os.path.basename(p) for p in glob.glob(os.path.join(trained['root'],
                                                                       'best.*.h5')))
    assert saved == expected and expected
