"""What the figures show: integer epoch ticks, per-class bars with their values and
support, and a row-normalised confusion matrix beside the counts."""
import numpy as np
import pytest

from keras_getpredict.analysis import plots
from keras_getpredict.analysis.class_metrics import classification_metrics

# 6 samples of class 0, 3 of class 1, none of class 2 (an absent class).
LABELS = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])
PREDICTED = np.array([0, 0, 0, 0, 1, 2, 1, 1, 0])


def _result():
    scores = np.full((len(LABELS), 3), 0.1)
    scores[np.arange(len(LABELS)), PREDICTED] = 0.8
    return classification_metrics(LABELS, scores, class_names=['cat', 'dog', 'bird'])


def _texts(axes):
    return [t.get_text() for t in axes.texts]


def test_training_curves_have_whole_epoch_ticks():
    figure = plots.history_figure({'loss': [1.0, 0.8, 0.7], 'val_loss': [1.1, 0.9, 0.8],
                                   'val_f1_macro': [0.2, 0.4, 0.5]})
    figure.canvas.draw()
    for axes in figure.axes:
        ticks = [t for t in axes.get_xticks() if axes.get_xlim()[0] <= t <= axes.get_xlim()[1]]
        assert ticks == [1.0, 2.0, 3.0]


def test_per_class_bars_show_their_values_and_the_support():
    result = _result()
    figure = plots.per_class_figure(result)
    axes = figure.axes[0]
    expected = ['%.2f' % v for values in (result.precision, result.recall, result.f1)
                for v in values]
    assert _texts(axes) == expected
    assert [t.get_text() for t in axes.get_xticklabels()] == [
        'cat\nn=6', 'dog\nn=3', 'bird\nn=0']


def test_confusion_matrix_has_row_normalised_shares_beside_the_counts():
    result = _result()
    figure = plots.confusion_matrix_figure(result)
    counts, shares = [a for a in figure.axes if a.images]
    np.testing.assert_array_equal(counts.images[0].get_array(),
                                  [[4, 1, 1], [1, 2, 0], [0, 0, 0]])
    np.testing.assert_allclose(shares.images[0].get_array(),
                               [[4 / 6., 1 / 6., 1 / 6.], [1 / 3., 2 / 3., 0], [0, 0, 0]])
    assert shares.images[0].get_clim() == (0, 1)
    assert _texts(shares) == ['0.67', '0.17', '0.17', '0.33', '0.67']
    assert 'accuracy %.3f, n=9' % (6 / 9.) in figure._suptitle.get_text()
    # Labels are white only on the dark half of each colour scale (0..1 for shares).
    assert [t.get_color() for t in shares.texts] == [
        'white', 'black', 'black', 'black', 'white']
    assert [t.get_color() for t in counts.texts] == [
        'white', 'black', 'black', 'black', 'black']


def test_row_normalised_leaves_rows_without_samples_at_zero():
    np.testing.assert_array_equal(plots.row_normalised([[2, 2], [0, 0]]), [[.5, .5], [0, 0]])


@pytest.mark.parametrize('make', [plots.confusion_matrix_figure, plots.per_class_figure,
                                  plots.pr_curves_figure])
def test_multilabel_figures_still_draw(make):
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    result = classification_metrics(labels, labels * 0.7 + 0.1, task='multilabel')
    assert plots.figure_to_rgb(make(result)).shape[2] == 3
