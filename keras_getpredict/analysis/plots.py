"""Matplotlib figures of `ClassificationMetrics` and of a training history.

Figures are built with the object API (`Figure` + Agg canvas), never `pyplot`, so they
work without a display and leave the user's pyplot state alone. matplotlib and
scikit-learn (the `[metrics]` extra) are imported on first use.
"""
from __future__ import absolute_import

import numpy as np

from .atomic_files import write_atomic
from .optional_deps import optional_module

#: The modules the figures import (from the `[metrics]` extra).
REQUIRES = ('matplotlib.figure', 'matplotlib.backends.backend_agg', 'matplotlib.cm',
            'matplotlib.ticker', 'sklearn.metrics')


def _figure(width, height):
    figure = optional_module('matplotlib.figure').Figure(figsize=(width, height), dpi=100)
    optional_module('matplotlib.backends.backend_agg').FigureCanvasAgg(figure)
    return figure


def confusion_matrix_figure(result, title='Confusion matrix'):
    """Counts of true (rows) against predicted (columns) classes; for multilabel,
    one 2x2 matrix per class."""
    names = result.class_names
    if result.task == 'multilabel':
        columns = min(5, len(names))
        rows = int(np.ceil(len(names) / float(columns)))
        figure = _figure(2.2 * columns, 2.2 * rows + 0.6)
        for k, name in enumerate(names):
            axes = figure.add_subplot(rows, columns, k + 1)
            _matrix(axes, result.confusion_matrix[k], ['0', '1'], small=True)
            axes.set_title(name, fontsize=9)
            axes.set_xlabel('predicted', fontsize=8)
            axes.set_ylabel('true', fontsize=8)
        figure.suptitle(title)
        figure.tight_layout(rect=(0, 0, 1, 0.93))
        return figure
    # Counts, and beside them each row divided by its support: the share of each true
    # class predicted as each class, readable when classes are imbalanced.
    size = 2.5 + 0.45 * len(names)
    width = 2 * size + 2.0
    figure = _figure(width, size + 0.4)
    counts = figure.add_subplot(1, 2, 1)
    images = [_matrix(counts, result.confusion_matrix, names)]
    counts.set_title('counts')
    shares = figure.add_subplot(1, 2, 2)
    images.append(_matrix(shares, row_normalised(result.confusion_matrix), names, digits=2,
                          vmax=1.))
    shares.set_title('share of each true class')
    for axes in (counts, shares):
        axes.set_xlabel('predicted')
        axes.set_ylabel('true')
    figure.suptitle('%s (accuracy %.3f, n=%d)' % (title, result.accuracy, result.n_samples))
    # The layout first, leaving COLORBAR_ROOM inches right of each matrix; then each
    # colorbar in its room (tight_layout would not count colorbars made with `ax=`, and
    # cut the x-axis label off at the bottom edge).
    for _ in range(2):  # the second pass sees the tick labels where the first put them
        figure.tight_layout(rect=(0, 0, 1 - COLORBAR_ROOM / width, 0.94),
                            w_pad=COLORBAR_ROOM * 72 / 10.)
    for axes, image in zip((counts, shares), images):
        axes.apply_aspect()
        box = axes.get_position()
        colorbar = figure.add_axes([box.x1 + 0.1 / width, box.y0, 0.18 / width, box.height])
        figure.colorbar(image, cax=colorbar)
    return figure


#: Inches beside a confusion matrix for its colorbar and the colorbar's labels.
COLORBAR_ROOM = 0.9


def row_normalised(counts):
    """`counts` with each row divided by its sum; rows without samples stay 0."""
    counts = np.asarray(counts, dtype='float64')
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _matrix(axes, counts, names, small=False, digits=None, vmax=None):
    """`counts` as an image, each cell labelled; `vmax`: the top of the colour scale
    (default the largest count), whose upper half gets white labels."""
    counts = np.asarray(counts)
    vmax = vmax if vmax is not None else (counts.max() if counts.size else 0)
    image = axes.imshow(counts, cmap='Blues', interpolation='nearest', vmin=0,
                        vmax=vmax or None)
    ticks = np.arange(len(names))
    axes.set_xticks(ticks)
    axes.set_yticks(ticks)
    axes.set_xticklabels(names, fontsize=8)
    axes.set_yticklabels(names, fontsize=8)
    high = vmax / 2.0
    for (i, j), value in np.ndenumerate(counts):
        if value or small:
            text = str(value) if digits is None else '%.*f' % (digits, value)
            axes.text(j, i, text, ha='center', va='center', fontsize=8,
                      color='white' if value > high else 'black')
    return image


def pr_curves_figure(result, title='Precision-recall curves'):
    """One precision-recall curve per class (scikit-learn), average precision in
    the legend."""
    skm = optional_module('sklearn.metrics')
    figure = _figure(7.5, 5.5)
    axes = figure.add_subplot(1, 1, 1)
    colors = _colors(len(result.class_names))
    for k, name in enumerate(result.class_names):
        positives = result.labels[:, k]
        if not positives.any():
            continue
        precision, recall, _ = skm.precision_recall_curve(positives, result.scores[:, k])
        ap = skm.average_precision_score(positives, result.scores[:, k])
        axes.step(recall, precision, where='post', color=colors[k], linewidth=1.3,
                  label='%s (AP %.3f)' % (name, ap))
    axes.set_xlabel('recall')
    axes.set_ylabel('precision')
    # Zoomed on the curves' range: good models crowd into the top right corner.
    lowest = min([line.get_ydata().min() for line in axes.get_lines()] or [0.0])
    axes.set_xlim(0, 1.01)
    axes.set_ylim(max(0.0, lowest - 0.05), 1.01)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    axes.legend(loc='lower left', fontsize=8, ncol=2 if len(result.class_names) > 6 else 1)
    figure.tight_layout()
    return figure


def per_class_figure(result, title='Per-class precision, recall, F1'):
    """Grouped bars of precision, recall and F1 per class, each bar labelled with its
    value and each class with its support (`n=`, true samples)."""
    names = result.class_names
    figure = _figure(max(6.0, 0.9 * len(names) + 2), 4.4)
    axes = figure.add_subplot(1, 1, 1)
    x = np.arange(len(names))
    width = 0.27
    for offset, (label, values) in zip((-width, 0, width), (
            ('precision', result.precision), ('recall', result.recall), ('F1', result.f1))):
        axes.bar(x + offset, values, width, label=label)
        for position, value in zip(x + offset, values):
            axes.text(position, value + 0.015, '%.2f' % value, ha='center', va='bottom',
                      fontsize=6.5, rotation=90)
    axes.set_xticks(x)
    axes.set_xticklabels(['%s\nn=%d' % (name, n) for name, n in zip(names, result.support)],
                         fontsize=8)
    # Headroom above 1.0 for the value labels and the legend, so they hide no bar.
    axes.set_ylim(0, 1.3)
    axes.set_yticks(np.linspace(0, 1, 6))
    axes.grid(axis='y', alpha=0.3)
    axes.legend(loc='upper center', fontsize=8, ncol=3)
    axes.set_title(title)
    figure.tight_layout()
    return figure


def history_figure(history, title='Training', metrics=None):
    """Loss curves (left) and other logged scalars (right) from `History.history`
    or a dict of lists; a training curve and its `val_` twin share a colour.

    # Arguments
        history: dict of key to per-epoch values.
        title: figure title prefix.
        metrics: keys for the right panel; default every key not ending in `loss`.
    """
    figure = _figure(11, 4.2)
    losses = figure.add_subplot(1, 2, 1)
    others = figure.add_subplot(1, 2, 2)
    loss_keys = [k for k in sorted(history) if k.endswith('loss')]
    other_keys = list(metrics) if metrics is not None else [
        k for k in sorted(history) if not k.endswith('loss')]
    for axes, keys in ((losses, loss_keys), (others, other_keys)):
        bases = []
        for key in keys:
            base = key[4:] if key.startswith('val_') else key
            if base not in bases:
                bases.append(base)
        colors = _colors(len(bases))
        for key in keys:
            if key not in history:
                continue
            values = np.asarray(history[key], dtype='float64')
            base = key[4:] if key.startswith('val_') else key
            axes.plot(np.arange(1, len(values) + 1), values, marker='o', markersize=3,
                      color=colors[bases.index(base)],
                      linestyle='--' if key.startswith('val_') else '-', label=key)
        axes.set_xlabel('epoch')
        # Epochs are whole numbers: no 1.5 between two epochs.
        axes.xaxis.set_major_locator(
            optional_module('matplotlib.ticker').MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    losses.set_title('%s: loss' % title)
    others.set_title('%s: metrics (dashed: validation)' % title)
    figure.tight_layout()
    return figure


def _colors(n):
    palette = optional_module('matplotlib.cm').get_cmap('tab10' if n <= 10 else 'tab20')
    return [palette(k % palette.N) for k in range(n)]


def figure_to_rgb(figure):
    """The figure's pixels as a `uint8` array `(height, width, 3)`."""
    canvas = figure.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def save_figure(figure, path):
    """Writes the figure as PNG to `path`, atomically (see `write_atomic`).

    # Returns
        `path`.
    """
    return write_atomic(path, lambda f: figure.savefig(f, format='png', dpi=100))
