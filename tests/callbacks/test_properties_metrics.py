"""Property-based tests (Hypothesis): `classification_metrics` agrees with scikit-learn on
random multiclass (one-hot and integer labels), multilabel and binary arrays, including
classes that never occur."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import metrics as skm

from keras_getpredict.analysis.class_metrics import AVERAGES, classification_metrics

SCORES = st.floats(0.01, 1.0, allow_nan=False)


def _same_as_sklearn(result, y_true, y_hat, labels, scores, label_args):
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_hat, zero_division=0,
                                                     **label_args)
    np.testing.assert_allclose(result.precision, p)
    np.testing.assert_allclose(result.recall, r)
    np.testing.assert_allclose(result.f1, f)
    np.testing.assert_array_equal(result.support, s)
    for average in AVERAGES:
        expected = skm.precision_recall_fscore_support(y_true, y_hat, average=average,
                                                       zero_division=0, **label_args)[:3]
        got = result.averages[average]
        assert (got['precision'], got['recall'], got['f1']) == pytest.approx(expected)
    assert result.accuracy == pytest.approx(skm.accuracy_score(y_true, y_hat))
    for k in range(labels.shape[1]):
        column = labels[:, k]
        if 0 < column.sum() < len(column):
            assert result.roc_auc[k] == pytest.approx(skm.roc_auc_score(column, scores[:, k]))
        else:  # a class absent (or everywhere): AUC undefined, left out of the mean
            assert np.isnan(result.roc_auc[k])
    defined = result.roc_auc[~np.isnan(result.roc_auc)]
    if defined.size:
        assert result.roc_auc_macro == pytest.approx(defined.mean())
    else:
        assert np.isnan(result.roc_auc_macro)


@st.composite
def multiclass(draw):
    n_classes = draw(st.integers(2, 5))
    n = draw(st.integers(1, 30))
    # Drawn from a subset of the classes, so some are often absent.
    present = draw(st.lists(st.integers(0, n_classes - 1), min_size=1, unique=True))
    labels = np.array(draw(st.lists(st.sampled_from(present), min_size=n, max_size=n)))
    raw = draw(hnp.arrays(np.float64, (n, n_classes), elements=SCORES))
    return labels, raw / raw.sum(axis=1, keepdims=True)


@settings(max_examples=60)
@given(multiclass(), st.booleans())
def test_multiclass_matches_sklearn_with_integer_or_one_hot_labels(case, one_hot):
    labels, scores = case
    n_classes = scores.shape[1]
    y_true = np.eye(n_classes)[labels] if one_hot else labels
    result = classification_metrics(y_true, scores, task='multiclass' if one_hot else 'auto')
    assert result.task == 'multiclass'
    y_hat = scores.argmax(axis=1)
    label_args = {'labels': np.arange(n_classes)}
    _same_as_sklearn(result, labels, y_hat, np.eye(n_classes, dtype=int)[labels], scores,
                     label_args)
    np.testing.assert_array_equal(result.confusion_matrix,
                                  skm.confusion_matrix(labels, y_hat, **label_args))


@st.composite
def multilabel(draw):
    n_classes = draw(st.integers(2, 5))
    n = draw(st.integers(1, 30))
    labels = draw(hnp.arrays(np.int64, (n, n_classes), elements=st.integers(0, 1)))
    if draw(st.booleans()):
        labels[:, draw(st.integers(0, n_classes - 1))] = 0  # a class that never occurs
    scores = draw(hnp.arrays(np.float64, (n, n_classes), elements=SCORES))
    return labels, scores, draw(st.floats(0.05, 0.95))


@settings(max_examples=60)
@given(multilabel())
def test_multilabel_matches_sklearn(case):
    labels, scores, threshold = case
    result = classification_metrics(labels, scores, task='multilabel', threshold=threshold)
    y_hat = (scores >= threshold).astype(int)
    _same_as_sklearn(result, labels, y_hat, labels, scores, {})
    np.testing.assert_array_equal(result.confusion_matrix,
                                  skm.multilabel_confusion_matrix(labels, y_hat))


@settings(max_examples=60)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(
    hnp.arrays(np.int64, (n,), elements=st.integers(0, 1)),
    hnp.arrays(np.float64, (n,), elements=st.floats(0, 1)), st.booleans())),
    st.floats(0.05, 0.95))
def test_binary_matches_sklearn(case, threshold):
    labels, scores, unit_axis = case
    y_true, y_pred = (labels[:, None], scores[:, None]) if unit_axis else (labels, scores)
    result = classification_metrics(y_true, y_pred, threshold=threshold)
    assert result.task == 'binary' and result.class_names == ['0', '1']
    y_hat = (scores >= threshold).astype(int)
    both = np.stack([1 - labels, labels], axis=1)
    _same_as_sklearn(result, labels, y_hat, both, np.stack([1 - scores, scores], axis=1),
                     {'labels': [0, 1]})
