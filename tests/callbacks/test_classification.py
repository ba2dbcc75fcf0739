"""`classification_metrics` gives scikit-learn's numbers for each task."""
import numpy as np
import pytest
from sklearn import metrics as skm

from keras_getpredict.analysis.class_metrics import SCALAR_NAMES, classification_metrics


def _softmax_scores(rng, n, classes):
    return rng.dirichlet(np.ones(classes), size=n)


def _check_per_class_and_averages(result, y_true, y_hat):
    """Per-class precision/recall/F1/support, their averages and the accuracy: scikit-learn's."""
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_hat, zero_division=0)
    np.testing.assert_allclose(result.precision, p)
    np.testing.assert_allclose(result.recall, r)
    np.testing.assert_allclose(result.f1, f)
    np.testing.assert_array_equal(result.support, s)
    _check_averages(result, y_true, y_hat)
    assert result.accuracy == pytest.approx(skm.accuracy_score(y_true, y_hat))


def _check_averages(result, y_true, y_hat, **kwargs):
    for average in ('macro', 'micro', 'weighted'):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_hat, average=average,
                                                         zero_division=0, **kwargs)
        assert result.averages[average]['precision'] == pytest.approx(p)
        assert result.averages[average]['recall'] == pytest.approx(r)
        assert result.averages[average]['f1'] == pytest.approx(f)
        assert result.scalars()['f1_' + average] == pytest.approx(f)


def test_multiclass_one_hot_equals_sklearn():
    rng = np.random.RandomState(0)
    scores = _softmax_scores(rng, 200, 4)
    index = rng.randint(0, 4, 200)
    result = classification_metrics(np.eye(4)[index], scores)
    assert result.task == 'multiclass'
    predicted = scores.argmax(1)
    _check_per_class_and_averages(result, index, predicted)
    np.testing.assert_array_equal(result.confusion_matrix, skm.confusion_matrix(index, predicted))
    assert result.roc_auc_macro == pytest.approx(
        skm.roc_auc_score(index, scores, multi_class='ovr', average='macro'))
    np.testing.assert_allclose(result.roc_auc, [skm.roc_auc_score(index == k, scores[:, k])
                                                for k in range(4)])
    assert result.roc_auc_micro == pytest.approx(
        skm.roc_auc_score(np.eye(4)[index], scores, average='micro'))
    assert list(result.scalars()) == list(SCALAR_NAMES)


@pytest.mark.parametrize('shape', ['flat', 'column'])
def test_multiclass_integer_labels_equal_one_hot(shape):
    rng = np.random.RandomState(1)
    scores = _softmax_scores(rng, 120, 3)
    index = rng.randint(0, 3, 120)
    labels = index if shape == 'flat' else index[:, None]
    from_integers = classification_metrics(labels, scores, class_names=['a', 'b', 'c'])
    from_one_hot = classification_metrics(np.eye(3)[index], scores)
    assert from_integers.task == 'multiclass'
    assert from_integers.class_names == ['a', 'b', 'c']
    assert from_integers.scalars() == pytest.approx(from_one_hot.scalars())
    np.testing.assert_array_equal(from_integers.confusion_matrix, from_one_hot.confusion_matrix)


def test_multiclass_extra_axes_count_as_samples():
    # Per-pixel classification: (batch, h, w, classes) with integer masks (batch, h, w).
    rng = np.random.RandomState(2)
    scores = _softmax_scores(rng, 2 * 4 * 5, 3).reshape(2, 4, 5, 3)
    mask = rng.randint(0, 3, (2, 4, 5))
    result = classification_metrics(mask, scores)
    assert result.n_samples == 40
    assert result.averages['macro']['f1'] == pytest.approx(
        skm.f1_score(mask.ravel(), scores.reshape(-1, 3).argmax(1), average='macro'))


def test_multilabel_equals_sklearn():
    rng = np.random.RandomState(3)
    labels = rng.randint(0, 2, (150, 5))
    scores = rng.rand(150, 5)
    result = classification_metrics(labels, scores, threshold=0.3)
    assert result.task == 'multilabel'
    predicted = (scores >= 0.3).astype(int)
    _check_per_class_and_averages(result, labels, predicted)
    np.testing.assert_array_equal(result.confusion_matrix,
                                  skm.multilabel_confusion_matrix(labels, predicted))
    np.testing.assert_allclose(result.roc_auc, skm.roc_auc_score(labels, scores, average=None))
    assert result.roc_auc_macro == pytest.approx(skm.roc_auc_score(labels, scores))
    assert result.roc_auc_micro == pytest.approx(
        skm.roc_auc_score(labels, scores, average='micro'))


def test_multilabel_with_one_label_per_row_is_not_taken_for_multiclass():
    # One-hot-looking labels, but sigmoid scores (rows do not sum to 1).
    labels = np.eye(3)[[0, 1, 2, 0]]
    scores = np.array([[.9, .8, .1], [.2, .7, .1], [.1, .2, .6], [.6, .1, .9]])
    result = classification_metrics(labels, scores)
    assert result.task == 'multilabel'
    np.testing.assert_allclose(result.precision, [1.0, 0.5, 0.5])


def test_binary_equals_sklearn():
    rng = np.random.RandomState(4)
    labels = rng.randint(0, 2, 80)
    scores = rng.rand(80, 1)
    result = classification_metrics(labels, scores, threshold=0.6, class_names=['neg', 'pos'])
    assert result.task == 'binary'
    predicted = (scores[:, 0] >= 0.6).astype(int)
    p, r, f, s = skm.precision_recall_fscore_support(labels, predicted, labels=[0, 1])
    np.testing.assert_allclose(result.f1, f)
    np.testing.assert_array_equal(result.support, s)
    assert result.roc_auc_macro == pytest.approx(skm.roc_auc_score(labels, scores[:, 0]))
    np.testing.assert_array_equal(result.confusion_matrix, skm.confusion_matrix(labels, predicted))


def test_auc_undefined_for_a_class_without_positives():
    scores = np.array([[.8, .1, .1], [.2, .7, .1], [.6, .3, .1], [.3, .6, .1]])
    index = np.array([0, 1, 0, 1])  # class 2 never occurs
    result = classification_metrics(index, scores)
    assert np.isnan(result.roc_auc[2])
    assert result.roc_auc_macro == pytest.approx(np.mean(result.roc_auc[:2]))
    assert result.support[2] == 0
    assert ' -' in result.table().splitlines()[3]


def test_table_lists_every_class_and_the_averages():
    index = np.array([0, 1, 2, 2])
    scores = np.eye(3)[[0, 1, 2, 1]] * 0.8 + 0.2 / 3
    table = classification_metrics(index, scores, class_names=['cat', 'dog', 'bird']).table('T')
    lines = table.splitlines()
    assert lines[0] == 'T'
    assert lines[2].split() == ['cat', '1.000', '1.000', '1.000', '1.000', '1']
    assert lines[4].split()[:4] == ['bird', '1.000', '0.500', '0.667']
    assert [row.split()[0] for row in lines[6:]] == ['accuracy', 'macro', 'micro', 'weighted']


@pytest.mark.parametrize('y_true, y_pred, task, message', [
    (np.zeros((5, 3)), np.zeros((4, 3)), 'auto', r'y_true \(5, 3\), y_pred \(4, 3\)'),
    (np.zeros((5, 2)), np.zeros((5, 3)), 'auto', r'do not fit'),
    (np.array([0, 3]), np.full((2, 3), 1 / 3.), 'auto', r'\[0, 3\)'),
    (np.array([0, 1]), np.full((2, 3), 1 / 3.), 'multilabel', r'multilabel'),
    (np.zeros((2, 3)), np.zeros((2, 3)), 'binary', r'one score per sample'),
    (np.array([[0, 2]]), np.zeros((1, 2)), 'multilabel', r'only 0 and 1'),
    (np.zeros((0, 3)), np.zeros((0, 3)), 'auto', r'No samples'),
    (np.zeros(3), np.zeros(3), 'regression', r'`task` should be one of'),
])
def test_bad_input_raises_value_error_naming_shapes(y_true, y_pred, task, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(y_true, y_pred, task=task)


def test_wrong_number_of_class_names():
    with pytest.raises(ValueError, match=r'`class_names` should list 3 names'):
        classification_metrics([0, 1, 2], np.eye(3), class_names=['a', 'b'])
    with pytest.raises(ValueError, match=r'should list 2 names for this binary'):
        classification_metrics([0, 1], [0.2, 0.9], class_names=['pos'])
