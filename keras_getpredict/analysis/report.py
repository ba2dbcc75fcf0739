"""`keras-getpredict report FILE.npz`: the per-class table and PNG plots of a saved epoch.

Imports neither TensorFlow nor Keras: the command runs where only the files are.
"""
from __future__ import absolute_import

import os
import sys
from collections import OrderedDict

from . import class_metrics, plots
from .optional_deps import require
from .outputs import choose_outputs, safe_key
from .files import CountsFile, load_predictions


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
    try:
        chosen = choose_outputs(prediction_file.outputs_by_name(), outputs)
    except ValueError as e:
        raise ValueError('%s: %s' % (prediction_file.path, e))
    results = OrderedDict()
    for name, (y_true, y_pred) in chosen.items():
        settings = prediction_file.settings.get(name, {})
        results[name] = class_metrics.classification_metrics(
            y_true, y_pred, task=settings.get('task', 'auto'),
            threshold=settings.get('threshold', 0.5), class_names=settings.get('class_names'))
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

    # Raises
        ValueError: In case the file is not a predictions file, or `outputs`
            names an output it holds no targets for.
        ImportError: In case scikit-learn or matplotlib is not installed.
    """
    stream = sys.stdout if stream is None else stream
    prediction_file = load_predictions(path)
    if isinstance(prediction_file, CountsFile):
        return _report_counts(prediction_file, outputs, stream)
    require(*(class_metrics.REQUIRES + plots.REQUIRES))
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
        base = os.path.join(out_dir, stem + ('.' + safe_key(name) if len(results) > 1 else ''))
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


def _report_counts(counts_file, outputs, stream):
    """The per-class tables of a reducing-mode counts file (numpy only, no plots)."""
    names = counts_file.output_names
    if outputs is not None:
        wanted = [outputs] if isinstance(outputs, str) else list(outputs)
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ValueError('%s: no counts for the output(s) %s; it holds %s.'
                             % (counts_file.path, unknown, names))
        names = wanted
    if stream:
        epoch = '' if counts_file.epoch < 0 else ', epoch %d' % counts_file.epoch
        stream.write('%s%s (counts of %d batches)\n' % (counts_file.path, epoch,
                                                        counts_file.counts.batches))
        if counts_file.logs:
            stream.write(_wrapped(['%s: %.4g' % kv for kv in counts_file.logs.items()]))
        for name in names:
            stream.write('\n' + counts_table(counts_file.counts[name], name,
                                             'Output %r:' % name) + '\n')
    return []


def counts_table(counts, name, title):
    """The per-class table of one output's counts, as text."""
    result = class_metrics.output_metrics(counts)
    columns = ['iou', 'dice', 'precision', 'recall'] + (
        ['roc_auc', 'average_precision'] if 'roc_auc' in result else [])
    lines = [title, '%-8s' % 'class' + ''.join('%12s' % c[:11] for c in columns) +
             '%12s' % 'support']
    for k in range(counts.num_classes):
        lines.append('%-8d' % k + ''.join('%12.4f' % result[c][k] for c in columns) +
                     '%12d' % result['support'][k])
    lines.append('mean IoU %.4f  mean Dice %.4f  accuracy %.4f  (%d counted, %d ignored)'
                 % (result['mean_iou'], result['mean_dice'], result['accuracy'],
                    counts.samples, counts.ignored))
    return '\n'.join(lines)
