"""`MaskRCNNQualityMetrics` and graph sums (`get_predict['sums']`) on a hand-made model
shaped like Mask R-CNN's training model: a `proposal_targets` layer with four outputs
(`rois`, `target_class_ids`, `target_bbox`, `target_mask`) and the outputs `mrcnn_bbox`
`(B, R, C, 4)` and `mrcnn_mask` `(B, R, h, w, C)`, each the identity of an input, so every
value the graph folds is one the test wrote.
"""
import numpy as np
import pytest
import tensorflow as tf
from support.forms import active_core
from support.mrcnn_references import QUALITY_REFERENCE_GET_PREDICT, quality_reference_from
from support.stack import K, SGD, Dense, Input, Lambda, Layer, Model, keras

from keras_getpredict.core.recording import BatchRecorder
from keras_getpredict.core.graph_sums import EpochSums
from keras_getpredict.core.horovod.sums import sum_sums
from keras_getpredict.core.selection import parse_get_predict
from keras_getpredict.mask_rcnn import MaskRCNNHeadMetrics, MaskRCNNQualityMetrics

R, H, W = 4, 4, 4
NAMES = ['BG', 'a', 'b', 'never']
C = len(NAMES)
STD = (0.1, 0.1, 0.2, 0.2)


class ProposalTargets(Layer):
    """Four outputs, each the identity of one input (matterport's layer samples them)."""

    def call(self, inputs):
        return [tf.identity(t) for t in inputs]

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def compute_mask(self, inputs, mask=None):
        return [None] * 4


def _model():
    rois = Input((R, 4), name='input_rois')
    ids = Input((R,), name='input_ids')
    target_bbox = Input((R, 4), name='input_target_bbox')
    target_mask = Input((R, H, W), name='input_target_mask')
    bbox = Input((R, C, 4), name='input_bbox')
    mask = Input((R, H, W, C), name='input_mask')
    targets = ProposalTargets(name='proposal_targets')([rois, ids, target_bbox, target_mask])
    mrcnn_bbox = Lambda(lambda t: tf.identity(t), name='mrcnn_bbox')(bbox)
    mrcnn_mask = Lambda(lambda t: tf.identity(t), name='mrcnn_mask')(mask)
    side = Dense(1, name='side')(keras.layers.Flatten()(targets[0]))
    model = Model([rois, ids, target_bbox, target_mask, bbox, mask],
                  [mrcnn_bbox, mrcnn_mask, side])
    model.add_loss(K.mean(K.square(side)))
    model.compile(SGD(lr=0.), loss=[None] * 3)
    return model


def _hand_batch():
    """One batch of two images whose sums are worked out by hand below."""
    rois = np.zeros((2, R, 4), 'float32')
    ids = np.zeros((2, R), 'float32')
    target_bbox = np.zeros((2, R, 4), 'float32')
    target_mask = np.zeros((2, R, H, W), 'float32')
    bbox = np.zeros((2, R, C, 4), 'float32')
    mask = np.zeros((2, R, H, W, C), 'float32')
    # Image 0, ROI 0, class a: predicted 2x2 (one pixel exactly at 0.5), target 2x3:
    # intersection 4, union 6. Box: target deltas halve the height around the centre.
    rois[0, 0] = [0., 0., 1., 1.]
    ids[0, 0] = 1
    mask[0, 0, :2, :2, 1] = [[0.9, 0.5], [0.7, 1.]]
    mask[0, 0, :, :, 2] = 1.  # another class's mask: not read
    target_mask[0, 0, :2, :3] = 1.
    target_bbox[0, 0] = [0., 0., np.log(0.5) / STD[2], 0.]
    # Image 0, ROI 1: background (real ROI, class 0); ROI 2, 3: padding (all-zero rows).
    # Their masks, if counted, would change every number.
    rois[0, 1] = [0.2, 0.2, 0.6, 0.6]
    mask[0, 1:] = 1.
    target_mask[0, 1:] = 1.
    # Image 1, ROI 0, class b: predicted everywhere (16), target empty: IoU and Dice 0.
    # Box: predicted and target deltas equal, IoU 1.
    rois[1, 0] = [0.1, 0.2, 0.5, 0.9]
    ids[1, 0] = 2
    mask[1, 0, :, :, 2] = 0.8
    mask[1, 0, :, :, 1] = 0.1
    bbox[1, 0, 2] = target_bbox[1, 0] = [0.3, -0.2, 0.1, 0.4]
    # Image 1, ROI 1, class a with 0.49 everywhere: nothing predicted; target 4 pixels.
    rois[1, 1] = [0.5, 0.5, 0.9, 0.7]
    ids[1, 1] = 1
    mask[1, 1, :, :, 1] = 0.49
    target_mask[1, 1, 2:, 2:] = 1.
    return [rois, ids, target_bbox, target_mask, bbox, mask]


def _random_batch(rng, n=2):
    """Random ROIs, classes a and b (never `never`), a background ROI and padding rows."""
    rois = np.sort(rng.rand(n, R, 2, 2), axis=2).transpose(0, 1, 3, 2).reshape(n, R, 4)
    rois = rois[..., [0, 2, 1, 3]].astype('float32')  # (y1, x1, y2, x2)
    ids = rng.randint(0, 3, (n, R)).astype('float32')
    ids[:, 0] = rng.randint(1, 3, n)
    rois[:, -1], ids[:, -1] = 0., 0.  # padding
    levels = np.float32([0., 0.25, 0.5, 0.75, 1.])  # 0.5: on the threshold
    return [rois, ids, rng.randn(n, R, 4).astype('float32'),
            rng.randint(0, 2, (n, R, H, W)).astype('float32'),
            rng.randn(n, R, C, 4).astype('float32'),
            levels[rng.randint(0, 5, (n, R, H, W, C))]]


def _generator(batches):
    while True:
        for batch in batches:
            yield batch, []


def _fit(model, batches, callbacks, get_predict=None, epochs=1):
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
    model.fit_generator(_generator(batches[:1]), 1, epochs=epochs,
                        validation_data=_generator(batches), validation_steps=len(batches),
                        callbacks=callbacks + [record], get_predict=get_predict, verbose=0)
    return seen


def test_graph_sums_of_a_hand_made_batch_equal_the_hand_computed_values(installed):
    quality = MaskRCNNQualityMetrics(NAMES, STD)
    logs = _fit(_model(), [_hand_batch()], [quality])[0]
    # Pooled pixels: a: I 4 of the 2x2 (0.5 counts) and 0 of ROI (1, 1); U 6 + 4.
    assert logs['val_mrcnn_mask_iou_a'] == pytest.approx(4. / 10.)
    assert logs['val_mrcnn_mask_dice_a'] == pytest.approx(2. * 4. / (4. + 10.))
    assert logs['val_mrcnn_mask_iou_b'] == 0. and logs['val_mrcnn_mask_dice_b'] == 0.
    # Boxes: a: 0.5 (the halved box inside the ROI) and 1 (zero deltas both); b: 1.
    assert logs['val_mrcnn_bbox_iou_a'] == pytest.approx((0.5 + 1.) / 2.)
    assert logs['val_mrcnn_bbox_iou_b'] == pytest.approx(1.)
    assert logs['val_mrcnn_mask_iou_mean'] == pytest.approx(0.2)
    assert logs['val_mrcnn_bbox_iou_mean'] == pytest.approx(0.875)
    # No positive ROI: NaN, left out of the means; background has no key.
    for metric in ('mask_iou', 'mask_dice', 'bbox_iou'):
        assert np.isnan(logs['val_mrcnn_%s_never' % metric])
        assert 'val_mrcnn_%s_BG' % metric not in logs
    # The background ROI and the padding rows are in no sum (class 0's column).
    np.testing.assert_array_equal(quality.last_sums[:, 0], 0.)
    np.testing.assert_array_equal(quality.last_sums[0], [0, 2, 1, 0])
    # Nothing but the sums was kept.
    assert logs['val_gts_and_preds']['y_pred'] == []
    assert logs['val_gts_and_preds']['sums'].batches == 1


def test_graph_sums_equal_numpy_on_captured_arrays_over_two_epochs(installed):
    rng = np.random.RandomState(3)
    batches = [_random_batch(rng) for _ in range(3)]
    quality = MaskRCNNQualityMetrics(NAMES, STD)
    # Full capture of the arrays in the same session runs: the numpy reference's input.
    seen = _fit(_model(), batches, [quality], get_predict=QUALITY_REFERENCE_GET_PREDICT,
                epochs=2)
    for logs in seen:
        preds = logs['val_gts_and_preds']
        assert len(preds['y_pred']) == 3
        reference = quality_reference_from(preds, C, STD)
        assert reference[0, 1:3].all() and reference[0, 3] == 0  # a, b: positives; never: none
        np.testing.assert_allclose(preds['sums']['mrcnn_quality'], reference, rtol=1e-6)
        np.testing.assert_array_equal(preds['sums']['mrcnn_quality'][:4], reference[:4])
        rois, inter, pred, target, box = reference
        for c in (1, 2):
            name = NAMES[c]
            assert logs['val_mrcnn_mask_iou_' + name] == pytest.approx(
                inter[c] / (pred[c] + target[c] - inter[c]))
            assert logs['val_mrcnn_mask_dice_' + name] == pytest.approx(
                2 * inter[c] / (pred[c] + target[c]))
            assert logs['val_mrcnn_bbox_iou_' + name] == pytest.approx(box[c] / rois[c])
        assert np.isnan(logs['val_mrcnn_mask_iou_never'])
        assert logs['val_mrcnn_mask_iou_mean'] == pytest.approx(np.mean(
            [logs['val_mrcnn_mask_iou_a'], logs['val_mrcnn_mask_iou_b']]))


def test_an_epoch_without_positive_rois_logs_nan_under_the_same_keys(installed):
    rng = np.random.RandomState(4)
    batch = _random_batch(rng)
    batch[1][:] = 0.  # every ROI background or padding
    quality = MaskRCNNQualityMetrics(NAMES, STD)
    logs = _fit(_model(), [batch], [quality])[0]
    keys = quality.expected_keys()
    assert len(keys) == 3 * (1 + 3) and all(np.isnan(logs[k]) for k in keys)


class _Spy(BatchRecorder):
    """A recorder that notes, after each batch, the bytes of the totals and the
    batches kept."""

    def __init__(self, sums):
        super(_Spy, self).__init__(sums)
        self.held = []

    def add(self, *args):
        super(_Spy, self).add(*args)
        self.held.append((self.totals.nbytes, len(self._y_pred)))


@pytest.mark.parametrize('steps', [2, 20])
def test_the_fold_keeps_fixed_size_state_whatever_the_number_of_batches(
        installed, steps, monkeypatch):
    modes = active_core('modes')  # the fork runs its vendored copy
    spies = []

    def spy(self, model, selection):
        spies.append(_Spy(selection.sums))
        return spies[-1]
    monkeypatch.setattr(modes.FullCapture, 'recorder', spy)
    rng = np.random.RandomState(5)
    quality = MaskRCNNQualityMetrics(NAMES, STD)
    _fit(_model(), [_random_batch(rng) for _ in range(steps)], [quality])
    held = spies[0].held
    assert len(held) == steps
    # (5 x 4 float64 = 160 bytes) after every batch, and no batch kept.
    assert set(held) == {(5 * C * 8, 0)}


def test_sums_merge_with_full_capture_requests_and_refuse_the_reducing_mode():
    quality = MaskRCNNQualityMetrics(NAMES, STD)
    alone = parse_get_predict(quality.get_predict)
    assert alone.outputs == () and not alone.keeps_arrays
    assert [s.name for s in alone.sums] == ['mrcnn_quality']
    from keras_getpredict.core.requests import Request, merge
    heads = MaskRCNNHeadMetrics(NAMES)
    merged = merge([Request('quality', None, alone),
                    Request('heads', None, parse_get_predict(heads.get_predict))])
    assert merged.outputs == ('mrcnn_class', 'rpn_class') and merged.sums == alone.sums
    with pytest.raises(ValueError, match="'sums'.*'reduce'"):
        merge([Request('quality', None, alone),
               Request('counts', None, parse_get_predict({'reduce': {'num_classes': 2}}))])
    with pytest.raises(ValueError, match='sums.*reduce'):
        parse_get_predict({'reduce': {'num_classes': 2}, 'sums': [quality.sums]})
    with pytest.raises(TypeError, match='sums'):
        parse_get_predict({'sums': ['mrcnn_quality']})


def test_a_model_of_other_classes_is_a_configuration_error(installed):
    quality = MaskRCNNQualityMetrics(NAMES[:3], STD)
    with pytest.raises(ValueError, match='`class_names` has 3 names.*4 classes'):
        _fit(_model(), [_hand_batch()], [quality])


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match='class_names'):
        MaskRCNNQualityMetrics('BG')
    with pytest.raises(ValueError, match='bbox_std_dev'):
        MaskRCNNQualityMetrics(NAMES, (0.1, 0.2))
    with pytest.raises(ValueError, match='mask_threshold'):
        MaskRCNNQualityMetrics(NAMES, mask_threshold=2)


class FakeSum(object):
    """Horovod's allreduce for one process: every rank's vector known up front."""

    def __init__(self, vectors, rank):
        self.vectors, self.rank = vectors, rank
        self.labels = []

    def rows(self, row, label):
        return np.tile(np.asarray(row, np.int64), (len(self.vectors), 1))

    def sum(self, vector, label):
        self.labels.append((label, vector.dtype))
        return np.sum(self.vectors, axis=0)


def test_ranks_sums_are_added_by_the_reducing_modes_collective():
    quality = MaskRCNNQualityMetrics(NAMES, STD)
    sums = (quality.sums,)
    rng = np.random.RandomState(6)
    per_rank = [EpochSums([('mrcnn_quality', rng.rand(5, C))], batches=b) for b in (3, 2, 0)]
    vectors = [np.concatenate([[s.batches], s['mrcnn_quality'].ravel()]) for s in per_rank]
    for rank, mine in enumerate(per_rank):
        collectives = FakeSum(vectors, rank)
        total = sum_sums(mine, sums, 'all', collectives)
        assert total.batches == 5
        np.testing.assert_allclose(total['mrcnn_quality'],
                                   sum(s['mrcnn_quality'] for s in per_rank))
        # The one allreduce-sum of `HorovodCollectives.sum`, as the reducing mode's counts.
        assert collectives.labels == [('sum_sums', np.float64)]
    assert sum_sums(per_rank[1], sums, 'root', FakeSum(vectors, 1)) is None
