"""Epoch predictions in `.npz` files: written atomically, read without pickle.

Layout of one file (every array plain numeric or unicode, so
`np.load(path, allow_pickle=False)` reads it):

- `format`: 1; `epoch`: the 1-based epoch (-1 when not from training).
- `output_names`: unicode array of the saved outputs.
- `y_pred/<output>` and, where the output has targets, `y_true/<output>`: arrays
  `(samples, ...)`, batches concatenated.
- `inputs/<name>`: captured inputs, when asked for.
- `task/<output>`, `threshold/<output>`, `class_names/<output>`: the metric settings,
  when an `EpochMetrics` was given, so `keras-getpredict report` recomputes the same.
- `log_names`, `log_values`: the epoch's scalar logs (loss, val_loss, val_f1_macro...).
"""
from __future__ import absolute_import

from collections import OrderedDict

import numpy as np

from ..core.logs_filters import is_scalar
from ..core.results import concat_batches, outputs_by_name
from ..core.reduce_counts import is_reduced
from .atomic_files import write_npz_atomic
from .count_files import CountsFile, count_arrays, is_count_file
from .npz_reading import read_npz
from .prediction_file_checks import FORMAT, check_arrays


def prediction_arrays(gts_and_preds, epoch=None, metrics=None, logs=None,
                      include_inputs=False):
    """The arrays `save_predictions` writes (see the module doc for the layout)."""
    if is_reduced(gts_and_preds):
        # Reducing mode: the counts and histograms (see `count_files`).
        return count_arrays(gts_and_preds, epoch, logs, FORMAT)
    pairs = outputs_by_name(gts_and_preds)
    names = list(pairs)
    arrays = OrderedDict([('format', np.int64(FORMAT)),
                          ('epoch', np.int64(-1 if epoch is None else epoch)),
                          ('output_names', np.array(names, dtype='U'))])
    for name, (y_true, y_pred) in pairs.items():
        arrays['y_pred/' + name] = y_pred
        if y_true is not None:
            arrays['y_true/' + name] = y_true
    if include_inputs and 'inputs' in gts_and_preds:
        for name, value in concat_batches(gts_and_preds)['inputs'].items():
            arrays['inputs/' + name] = value
    if metrics is not None:
        for name in names:
            task, threshold, class_names = metrics.settings_for(name)
            arrays['task/' + name] = np.array(task, dtype='U')
            arrays['threshold/' + name] = np.float64(threshold)
            if class_names is not None:
                arrays['class_names/' + name] = np.array([str(c) for c in class_names],
                                                         dtype='U')
    scalars = OrderedDict((k, float(np.asarray(v))) for k, v in sorted((logs or {}).items())
                          if is_scalar(v))
    arrays['log_names'] = np.array(list(scalars), dtype='U')
    arrays['log_values'] = np.array(list(scalars.values()), dtype='float64')
    return arrays


def save_predictions(path, gts_and_preds, epoch=None, metrics=None, logs=None,
                     include_inputs=False):
    """Saves one set of predictions (and settings, scalar logs) to `path` atomically.

    # Arguments
        path: the `.npz` file.
        gts_and_preds: `logs['val_gts_and_preds']` or the second value returned by
            `evaluate_generator(..., get_predict=True)`.
        epoch: 1-based epoch number to store, or `None`.
        metrics: an `EpochMetrics` whose settings (task, threshold, class names)
            are stored for `keras-getpredict report`.
        logs: the epoch logs; their scalar entries are stored.
        include_inputs: also store captured inputs.

    # Returns
        `path`.
    """
    return write_npz_atomic(path, prediction_arrays(gts_and_preds, epoch, metrics, logs,
                                                    include_inputs))


class PredictionFile(object):
    """What `load_predictions` returns.

    # Attributes
        path, epoch, output_names.
        y_true, y_pred: dicts of output name to array (`y_true` lacks outputs
            without targets).
        inputs: dict of input name to array.
        settings: dict of output name to `{'task', 'threshold', 'class_names'}`.
        logs: `OrderedDict` of the epoch's scalar logs.
    """

    def __init__(self, path, arrays):
        self.path = path
        self.epoch = int(arrays['epoch'])
        self.output_names = [str(n) for n in arrays['output_names']]
        self.y_true, self.y_pred, self.inputs, self.settings = {}, {}, {}, {}
        for key, value in arrays.items():
            kind, _, name = key.partition('/')
            if kind in ('y_true', 'y_pred', 'inputs'):
                getattr(self, kind)[name] = value
        for name in self.output_names:
            if 'task/' + name in arrays:
                class_names = arrays.get('class_names/' + name)
                self.settings[name] = {
                    'task': str(arrays['task/' + name]),
                    'threshold': float(arrays['threshold/' + name]),
                    'class_names': None if class_names is None else [str(c) for c in class_names]}
        self.logs = OrderedDict(zip([str(n) for n in arrays['log_names']],
                                    [float(v) for v in arrays['log_values']]))

    def outputs_by_name(self):
        """`OrderedDict` of output name to `(y_true, y_pred)`, `y_true` `None` where
        the file holds no targets (as `core.results.outputs_by_name` gives)."""
        return OrderedDict((name, (self.y_true.get(name), self.y_pred[name]))
                           for name in self.output_names)

    def __repr__(self):
        return 'PredictionFile(%r, epoch=%d, outputs=%r)' % (self.path, self.epoch,
                                                             self.output_names)


def load_predictions(path):
    """Reads a file written by `save_predictions` / `PredictionSaver`.

    Every member it reads is checked (presence, dtype kind, shapes that fit
    `output_names`) and nothing is unpickled, so a damaged or foreign file gives
    one `ValueError` naming the file and what is wrong.

    # Returns
        A `PredictionFile`, or a `count_files.CountsFile` for reducing-mode counts.

    # Raises
        ValueError: In case the file is not a readable keras-getpredict
            predictions file.
        IOError: In case the file cannot be opened.
    """
    arrays = read_npz(path)
    if 'format' not in arrays or 'output_names' not in arrays:
        raise ValueError('%s is not a keras-getpredict predictions file (it has the arrays '
                         '%s).' % (path, sorted(arrays)))
    if is_count_file(arrays):
        return CountsFile(path, arrays)
    try:
        check_arrays(arrays)
    except ValueError as e:
        raise ValueError('%s: %s' % (path, e))
    return PredictionFile(path, arrays)
