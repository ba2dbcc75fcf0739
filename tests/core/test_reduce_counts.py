"""Reducing-mode counts (`core/reduce_counts.py`) against scikit-learn, no Keras involved.

The confusion matrix is exact; the binned ROC AUC stays within the stated bound of
scikit-learn's exact AUC, and the binned curve points are exact at the bin edges.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from keras_getpredict.analysis import class_metrics
from keras_getpredict.core.horovod.sums import pack, sum_counts, unpack
from keras_getpredict.core.selection import parse_get_predict
from keras_getpredict.core.reduce_counts import (OutputCounts, ReduceSpec, ReducedCounts,
                                                 fold)

# No example database: nothing is written into the worktree.
SETTINGS = settings(max_examples=60, deadline=None, database=None)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@st.composite
def multiclass_batches(draw, per_pixel=False):
    c = draw(st.integers(2, 6))
    n = draw(st.integers(1, 30))
    shape = (n, draw(st.integers(1, 4)), draw(st.integers(1, 4))) if per_pixel else (n,)
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, c, shape)
    # Few distinct logits: ties in argmax and scores that land on bin edges.
    scores = _softmax(rng.randint(-3, 4, shape + (c,)).astype('float32'))
    return c, labels, scores


def _folded(c, batches, bins=20, threshold=0.5):
    spec = ReduceSpec(c, bins, threshold)
    counts = OutputCounts(c, bins)
    for y_true, y_pred in batches:
        fold(counts, spec, y_true, y_pred)
    return counts


@SETTINGS
@given(multiclass_batches(), st.integers(1, 4))
def test_multiclass_confusion_equals_sklearn_with_integer_labels(data, parts):
    c, labels, scores = data
    splits = np.array_split(np.arange(len(labels)), parts)
    counts = _folded(c, [(labels[i], scores[i]) for i in splits])
    expected = skm.confusion_matrix(labels, scores.argmax(-1), labels=range(c))
    np.testing.assert_array_equal(counts.confusion, expected)
    assert counts.confusion.dtype == np.int64


@SETTINGS
@given(multiclass_batches(per_pixel=True))
def test_per_pixel_confusion_equals_sklearn_with_one_hot_and_integer_labels(data):
    c, labels, scores = data
    expected = skm.confusion_matrix(labels.ravel(), scores.argmax(-1).ravel(),
                                    labels=range(c))
    one_hot = np.eye(c, dtype='float32')[labels]
    for y_true in (one_hot, labels[..., None].astype('float32'), labels.astype('uint8')):
        np.testing.assert_array_equal(_folded(c, [(y_true, scores)]).confusion, expected)


@SETTINGS
@given(st.integers(1, 50), st.integers(0, 2 ** 31 - 1),
       st.floats(0.05, 0.95))
def test_binary_confusion_equals_sklearn_at_the_threshold(n, seed, threshold):
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 2, (n, 1)).astype('float32')
    scores = rng.rand(n, 1).astype('float32')
    counts = _folded(2, [(labels, scores)], threshold=threshold)
    expected = skm.confusion_matrix(labels.ravel(), (scores.ravel() >= threshold),
                                    labels=[0, 1])
    np.testing.assert_array_equal(counts.confusion, expected)


def test_labels_outside_the_classes_are_ignored_and_counted():
    labels = np.array([0, 255, 1, 2, 255])
    scores = np.eye(3, dtype='float32')[[0, 1, 1, 2, 2]]
    counts = _folded(3, [(labels, scores)])
    np.testing.assert_array_equal(counts.confusion, skm.confusion_matrix(
        [0, 1, 2], [0, 1, 2], labels=range(3)))
    assert counts.ignored == 2
    assert counts.positives.sum() == 3 and counts.negatives.sum() == 6


def test_a_batch_whose_labels_are_all_ignored_counts_them_only_as_ignored():
    # (With histograms, the numpy fold used to take the minimum of no scores.)
    scores = np.eye(3, dtype='float32')[[0, 1]]
    counts = _folded(3, [(np.array([255, -1]), scores), (np.array([2, 1]), scores)])
    assert counts.ignored == 2 and counts.samples == 2
    assert counts.positives.sum() == 2 and counts.negatives.sum() == 4


@SETTINGS
@given(multiclass_batches(per_pixel=True))
def test_metrics_from_counts_equal_sklearn(data):
    c, labels, scores = data
    y, p = labels.ravel(), scores.argmax(-1).ravel()
    result = class_metrics.confusion_metrics(_folded(c, [(labels, scores)]).confusion)
    present = np.union1d(y, p)
    with np.errstate(all='ignore'):
        iou = skm.jaccard_score(y, p, labels=present, average=None, zero_division=0)
        precision, recall, f1, support = skm.precision_recall_fscore_support(
            y, p, labels=range(c), zero_division=0)
    np.testing.assert_allclose(result['iou'][present], iou)
    np.testing.assert_allclose(result['dice'][present], f1[present])
    np.testing.assert_allclose(np.nan_to_num(result['precision']), precision)
    np.testing.assert_allclose(np.nan_to_num(result['recall']), recall)
    np.testing.assert_array_equal(result['support'], support)
    assert result['mean_iou'] == pytest.approx(iou.mean())
    assert result['accuracy'] == pytest.approx(skm.accuracy_score(y, p))
    # Classes neither in the labels nor predicted: undefined, not zero.
    absent = np.setdiff1d(np.arange(c), present)
    assert np.isnan(result['iou'][absent]).all()


@SETTINGS
@given(st.integers(2, 400), st.integers(0, 2 ** 31 - 1), st.sampled_from([1, 5, 200]),
       st.booleans())
def test_binned_auc_is_within_the_stated_bound_of_sklearn(n, seed, bins, separable):
    rng = np.random.RandomState(seed)
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    scores = rng.rand(n).astype('float32')
    if separable:
        scores = (scores + labels) / 2.
    counts = _folded(2, [(labels, scores[:, None])], bins=bins)
    positives, negatives = counts.positives[1], counts.negatives[1]
    exact = skm.roc_auc_score(labels, scores)
    binned = class_metrics.roc_auc(positives, negatives)
    bound = class_metrics.auc_error_bound(positives, negatives)
    assert abs(binned - exact) <= bound + 1e-12
    assert bound <= 0.5 * negatives.max() / negatives.sum() + 1e-12
    # Class 0's histograms are class 1's mirrored: the same AUC.
    assert class_metrics.roc_auc(counts.positives[0], counts.negatives[0]) == \
        pytest.approx(binned)


def test_curve_points_are_exact_at_the_bin_edges():
    rng = np.random.RandomState(3)
    labels = rng.randint(0, 3, 500)
    scores = _softmax(3 * rng.randn(500, 3)).astype('float32')
    counts = _folded(3, [(labels, scores)], bins=10)
    for c in range(3):
        tp, fp = class_metrics.counts_at_thresholds(counts.positives[c], counts.negatives[c])
        binned = np.minimum((scores[:, c] * 10).astype(int), 9)
        for k in range(11):
            assert tp[k] == np.sum((binned >= k) & (labels == c))
            assert fp[k] == np.sum((binned >= k) & (labels != c))
        precision, recall, thresholds = class_metrics.pr_curve(counts.positives[c],
                                                               counts.negatives[c])
        assert recall[0] == 1.0 and np.all(np.diff(recall) <= 0)


def test_average_precision_is_close_to_sklearn_with_200_bins():
    rng = np.random.RandomState(4)
    labels = rng.randint(0, 2, 20000)
    scores = np.clip(0.35 * labels + 0.65 * rng.rand(20000), 0, 1).astype('float32')
    counts = _folded(2, [(labels, scores[:, None])], bins=200)
    binned = class_metrics.average_precision(counts.positives[1], counts.negatives[1])
    assert binned == pytest.approx(skm.average_precision_score(labels, scores), abs=2e-3)


def test_histograms_off_with_zero_bins():
    counts = _folded(3, [(np.array([0, 1]), np.eye(3, dtype='float32')[[0, 2]])], bins=0)
    assert counts.positives.shape == (3, 0)
    assert 'roc_auc' not in class_metrics.output_metrics(counts)


def test_shape_and_class_mismatches_name_the_problem():
    spec = ReduceSpec(3, 10)
    with pytest.raises(ValueError, match='is 3 but the output has 4'):
        fold(OutputCounts(3, 10), spec, np.zeros(2), np.zeros((2, 4)))
    with pytest.raises(ValueError, match='cannot match targets of shape'):
        fold(OutputCounts(3, 10), spec, np.zeros((2, 5)), np.zeros((2, 3)))


@pytest.mark.parametrize('bad, error', [
    ({'reduce': 3}, TypeError), ({'reduce': {'bins': 5}}, ValueError),
    ({'reduce': {'num_classes': 1}}, ValueError),
    ({'reduce': {'num_classes': 3, 'bins': -1}}, ValueError),
    ({'reduce': {'num_classes': 3, 'threshold': 2}}, ValueError),
    ({'reduce': {'num_classes': 3, 'colour': 1}}, ValueError),
    ({'reduce': {'num_classes': 3, 'on_graph': 1}}, TypeError),
    ({'reduce': {'num_classes': 3}, 'inputs': ['x']}, ValueError)])
def test_bad_reduce_arguments_raise(bad, error):
    with pytest.raises(error, match='reduce'):
        parse_get_predict(bad)


def test_reduce_argument_parses():
    selection = parse_get_predict({'reduce': {'num_classes': 21}})
    assert (selection.reduce.num_classes, selection.reduce.bins) == (21, 200)
    assert parse_get_predict(True).reduce is None


class FakeAllreduce(object):
    """The Horovod collectives of `sum_counts` simulated in one process: every rank's
    vector is known up front, and every rank's handshake row is taken to be this one's
    (the ranks count alike; test_distributed.py runs the handshake between threads)."""

    def __init__(self, vectors, rank):
        self.vectors, self.rank = vectors, rank
        self.calls = 0

    def rows(self, row, label):
        return np.tile(np.asarray(row, np.int64), (len(self.vectors), 1))

    def sum(self, vector, label):
        self.calls += 1
        assert all(v.shape == vector.shape for v in self.vectors)
        return np.sum(self.vectors, axis=0)


def test_counts_summed_over_ranks_equal_one_process_run():
    rng = np.random.RandomState(5)
    labels = rng.randint(0, 4, (24, 3, 3))
    scores = _softmax(rng.randn(24, 3, 3, 4)).astype('float32')
    spec = ReduceSpec(4, 16)

    def counted(indices):
        result = ReducedCounts(spec, ['a', 'b'])
        for i in indices:
            fold(result['a'], spec, labels[i:i + 1], scores[i:i + 1])
            fold(result['b'], spec, labels[i:i + 1], scores[i:i + 1][..., ::-1])
        result.batches = len(indices)
        return result

    whole = counted(range(24))
    shards = [counted(range(r, 24, 3)) for r in range(3)] + [counted([])]  # one idle rank
    vectors = [pack(s) for s in shards]
    for rank, shard in enumerate(shards):
        total = sum_counts(shard, 'all', FakeAllreduce(vectors, rank))
        assert total.batches == 24 and total.output_names == ['a', 'b']
        for name in ('a', 'b'):
            for field in ('confusion', 'positives', 'negatives'):
                np.testing.assert_array_equal(getattr(total[name], field),
                                              getattr(whole[name], field))
    assert sum_counts(shards[1], 'root', FakeAllreduce(vectors, 1)) is None
    assert sum_counts(counted([]), 'all', FakeAllreduce([pack(counted([]))] * 2, 0)) is None
    assert unpack(pack(whole), whole)['a'].samples == 24 * 9
