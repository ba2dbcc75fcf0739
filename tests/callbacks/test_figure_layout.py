"""Every figure the demo and `keras-getpredict report` write shows all of its text: each
axis label, tick label and title lies inside the figure (matplotlib's tight bounding
boxes, measured on the figure as it is saved)."""
import numpy as np
import pytest

from keras_getpredict.analysis import plots
from keras_getpredict.analysis.class_metrics import classification_metrics
from keras_getpredict.demo import CURVE_METRICS


def _classification(n_classes, task='multiclass'):
    rng = np.random.RandomState(n_classes)
    names = ['class %d' % k for k in range(n_classes)]
    if task == 'multilabel':
        labels = rng.randint(0, 2, size=(60, n_classes))
        return classification_metrics(labels, rng.uniform(size=labels.shape), task=task,
                                      class_names=names)
    labels = rng.randint(0, n_classes, size=200)
    return classification_metrics(labels, rng.dirichlet(np.ones(n_classes), size=200),
                                  class_names=names)


def _history(epochs=10):
    curve = list(np.linspace(1., 0.2, epochs))
    history = {'loss': curve, 'val_loss': curve}
    history.update({key: curve for key in CURVE_METRICS})
    return history


# What the demo writes (ten digit classes, its training curves) and what the report writes
# for a few, many and multilabel classes.
FIGURES = {
    'demo training curves': lambda: plots.history_figure(_history(), 'Digits CNN',
                                                         CURVE_METRICS),
    'demo confusion matrix': lambda: plots.confusion_matrix_figure(
        _classification(10), 'Confusion matrix: epoch 10'),
    'demo PR curves': lambda: plots.pr_curves_figure(_classification(10),
                                                     'Precision-recall: epoch 10'),
    'demo per class': lambda: plots.per_class_figure(_classification(10), 'Per class: epoch 10'),
}
for _n in (2, 3, 20):
    FIGURES['confusion matrix, %d classes' % _n] = (
        lambda n=_n: plots.confusion_matrix_figure(_classification(n)))
    FIGURES['per class, %d classes' % _n] = lambda n=_n: plots.per_class_figure(_classification(n))
FIGURES['confusion matrices, multilabel'] = lambda: plots.confusion_matrix_figure(
    _classification(7, 'multilabel'))
FIGURES['per class, multilabel'] = lambda: plots.per_class_figure(
    _classification(7, 'multilabel'))


def _outside(figure):
    """The texts of `figure` that reach past its edges, with how far (in pixels)."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    box = figure.bbox
    texts = [figure._suptitle] if figure._suptitle is not None else []
    for axes in figure.axes:
        texts += [axes.title, axes.xaxis.label, axes.yaxis.label]
        for axis in (axes.xaxis, axes.yaxis):
            # Only the ticks inside the view: matplotlib draws no others.
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * max(1., high - low)
            texts += [tick.label1 for tick in axis.get_major_ticks()
                      if low - slack <= tick.get_loc() <= high + slack]
    outside = []
    for text in texts:
        if not text.get_visible() or not text.get_text():
            continue
        extent = text.get_window_extent(renderer)
        over = max(box.x0 - extent.x0, box.y0 - extent.y0, extent.x1 - box.x1, extent.y1 - box.y1)
        if over > 0.5:
            outside.append('%r by %.0f px' % (text.get_text(), over))
    return outside


@pytest.mark.parametrize('name', sorted(FIGURES))
def test_every_label_and_title_lies_inside_the_figure(name):
    assert _outside(FIGURES[name]()) == []


def test_the_check_sees_a_label_pushed_out():
    # The check itself: a label moved below the bottom edge is reported.
    figure = plots.per_class_figure(_classification(3))
    assert _outside(figure) == []
    figure.axes[0].set_xlabel('class')
    figure.axes[0].xaxis.set_label_coords(0.5, -2.0)
    assert [text for text in _outside(figure) if text.startswith("'class' by")]
