"""`keras-getpredict report FILE.npz`: the per-class table and PNG plots of a saved epoch."""
from __future__ import absolute_import

import os
from collections import OrderedDict

from . import plots
from .classification import classification_metrics
from ..callbacks.epoch_metrics import _safe
from .prediction_files import load_predictions


def file_metrics(prediction_file, outputs=None):
    """Recomputes the metrics of a `PredictionFile` with its stored settings.

    # Arguments
        prediction_file: a `PredictionFile` (from `load_predictions`).
        outputs: output name(s) to use; `None` for every output with targets.

    # Returns
        `OrderedDict` of output name to `ClassificationMetrics`.

    # Raises
        ValueError: In case a named output is not in the file or has no targets.
    """
    names = prediction_file.output_names
    if outputs is None:
        chosen = [n for n in names if n in prediction_file.y_true]
        if not chosen:
            raise ValueError('%s holds no targets (y_true) for any of its outputs %s.'
                             % (prediction_file.path, names))
    else:
        chosen = [outputs] if isinstance(outputs, str) else list(outputs)
        unknown = [n for n in chosen if n not in prediction_file.y_true]
        if unknown:
            raise ValueError('%s has no targets for output(s) %s; outputs with targets: %s.'
                             % (prediction_file.path, unknown, sorted(prediction_file.y_true)))
    results = OrderedDict()
    for name in chosen:
        settings = prediction_file.settings.get(name, {})
        results[name] = classification_metrics(
            prediction_file.y_true[name], prediction_file.y_pred[name],
            task=settings.get('task', 'auto'), threshold=settings.get('threshold', 0.5),
            class_names=settings.get('class_names'))
    return results


def _wrapped(items, width=100):
    """`items` joined by two spaces, in indented lines of at most `width` characters,
    never breaking an item."""
    lines, line = [], ''
    for item in items:
        if line and len(line) + 2 + len(item) > width - 2:
            lines.append(line)
            line = ''
        line = item if not line else line + '  ' + item
    return ''.join('  %s\n' % text for text in lines + [line] if text)


def report(path, out_dir=None, outputs=None, stream=None):
    """Prints the per-class table of a saved predictions file and writes PNG plots.

    # Arguments
        path: a `.npz` file written by `PredictionSaver` / `save_predictions`.
        out_dir: where the PNGs go; by default next to the file.
        outputs: output name(s) to report; `None` for every output with targets.
        stream: where to print (default: standard output); `False` prints nothing.

    # Returns
        The list of PNG paths written: `<stem>[.<output>].confusion_matrix.png`,
        `.pr_curves.png` and `.per_class.png`.
    """
    import sys
    stream = sys.stdout if stream is None else stream
    prediction_file = load_predictions(path)
    results = file_metrics(prediction_file, outputs)
    out_dir = out_dir or os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    epoch = '' if prediction_file.epoch < 0 else ', epoch %d' % prediction_file.epoch
    written = []
    if stream:
        stream.write('%s%s\n' % (path, epoch))
        if prediction_file.logs:
            stream.write(_wrapped(['%s: %.4g' % kv for kv in prediction_file.logs.items()]))
    for name, result in results.items():
        if stream:
            stream.write('\n' + result.table('Output %r (%s, %d samples):' % (
                name, result.task, result.n_samples)) + '\n')
        base = os.path.join(out_dir, stem + ('.' + _safe(name) if len(results) > 1 else ''))
        what = '%s%s' % (stem, '' if len(results) == 1 else ' ' + name)
        written.append(plots.save_figure(
            plots.confusion_matrix_figure(result, 'Confusion matrix: %s' % what),
            base + '.confusion_matrix.png'))
        written.append(plots.save_figure(
            plots.pr_curves_figure(result, 'Precision-recall: %s' % what),
            base + '.pr_curves.png'))
        written.append(plots.save_figure(
            plots.per_class_figure(result, 'Per class: %s' % what),
            base + '.per_class.png'))
    if stream:
        stream.write('\nwrote %s\n' % ', '.join(written))
    return written
