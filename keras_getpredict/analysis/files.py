"""The files keras-getpredict writes and reads back: one epoch's predictions, or the
reducing mode's counts, in an `.npz` file, written atomically (`atomic_files`), read
without pickle.

A predictions file (every array plain numeric or unicode, so
`np.load(path, allow_pickle=False)` reads it):

- `format`: 1; `epoch`: the 1-based epoch (-1 when not from training).
- `output_names`: unicode array of the saved outputs.
- `y_pred/<output>` and, where the output has targets, `y_true/<output>`: arrays
  `(samples, ...)`, batches concatenated.
- `inputs/<name>`: captured inputs, when asked for.
- `task/<output>`, `threshold/<output>`, `class_names/<output>`: the metric settings,
  when an `EpochMetrics` was given, so `keras-getpredict report` recomputes the same.
- `log_names`, `log_values`: the epoch's scalar logs (loss, val_loss, val_f1_macro...).

A counts file (reducing mode) has the same `format`, `epoch`, `output_names`,
`log_names`, `log_values`, and:

- `kind`: `'counts'` (predictions files have no `kind`).
- `num_classes`, `bins`, `threshold`, `batches`: the `ReduceSpec` and batch count.
- `confusion/<output>` `(C, C)`, `positives/<output>` and `negatives/<output>`
  `(C, bins)`, `ignored/<output>`: int64 counts (see `core/reduce_counts.py`).

Reading never trusts the file: `np.load` alone lets a damaged file through as
`BadZipFile`, `zlib.error`, `EOFError` or a pickle complaint (for a file that is not a
zip at all), tries to allocate whatever shape a damaged header claims, and its
`NpzFile.__del__` prints noise when the zip cannot be opened. Here each member is read
as bytes, its `.npy` header is parsed and its size checked against the bytes before any
array is made, and every member `load_predictions` reads is checked, so a damaged or
hand-made file gives one `ValueError` naming the file and what is wrong, never a
`KeyError` or an `IndexError` later.
"""
from __future__ import absolute_import

import io
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from ..core.logs_filters import is_scalar
from ..core.reduce_counts import OutputCounts, ReduceSpec, ReducedCounts, is_reduced
from ..core.results import concat_batches, outputs_by_name
from .atomic_files import write_npz_atomic
from .class_metrics import TASKS


# --- reading an .npz without pickle ----------------------------------------------------

_ZIP_SIGNATURE = b'PK\x03\x04'
_DAMAGE = (ValueError, EOFError, KeyError, OSError, IOError, RuntimeError, SyntaxError,
           TypeError, OverflowError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def read_npz(path):
    """Returns an `OrderedDict` of member name (without `.npy`) to array.

    # Raises
        ValueError: In case `path` is not an `.npz` file, or a member is damaged,
            holds objects (it would need pickle) or is not an `.npy` array.
        IOError: In case the file cannot be opened.
    """
    with open(path, 'rb') as f:
        if f.read(len(_ZIP_SIGNATURE)) != _ZIP_SIGNATURE:
            raise ValueError('%s is not an .npz file (it does not start with the zip '
                             'signature).' % path)
        f.seek(0)
        try:
            archive = zipfile.ZipFile(f)
        except _DAMAGE as e:
            raise ValueError('%s is a damaged .npz file (%s).' % (path, _what(e)))
        with archive:
            arrays = OrderedDict()
            for info in archive.infolist():
                name = info.filename
                if not name.endswith('.npy'):
                    raise ValueError('%s holds %r, which is not an .npy array.' % (path, name))
                try:
                    arrays[name[:-len('.npy')]] = _array_from_bytes(archive.read(info))
                except _DAMAGE as e:
                    raise ValueError('%s: member %r is damaged (%s).' % (path, name, _what(e)))
    return arrays


def _array_from_bytes(data):
    buffer = io.BytesIO(data)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(buffer)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(buffer)
    else:
        raise ValueError('.npy format version %s is not supported' % (version,))
    if dtype.hasobject:
        raise ValueError('it holds Python objects (dtype %s), which would need pickle'
                         % dtype)
    count = 1
    for length in shape:
        count *= int(length)
    body = memoryview(data)[buffer.tell():]
    if count * dtype.itemsize != len(body):
        raise ValueError('its header announces %s %s values (%d bytes) but %d bytes follow'
                         % (shape, dtype, count * dtype.itemsize, len(body)))
    array = np.frombuffer(body, dtype=dtype, count=count)
    return array.reshape(shape, order='F' if fortran_order else 'C').copy()


def _what(error):
    text = str(error).strip().replace('\n', ' ')
    return '%s: %s' % (type(error).__name__, text) if text else type(error).__name__


# --- the checks of a predictions file --------------------------------------------------

#: The format of the prediction files this package writes; it reads 1 up to this one.
FORMAT = 1
#: Members kept per output, as `<kind>/<output name>`.
PER_OUTPUT_KINDS = ('y_true', 'y_pred', 'task', 'threshold', 'class_names')
_NUMERIC = 'biuf'


def check_arrays(arrays):
    """Raises `ValueError` unless `arrays` (member name to array) is a readable
    predictions file of a format this package knows (see the module doc)."""
    file_format = _integer_scalar(arrays, 'format')
    if file_format > FORMAT or file_format < 1:
        raise ValueError('it has format %d; this keras-getpredict reads formats 1 to %d.'
                         % (file_format, FORMAT))
    _integer_scalar(arrays, 'epoch')
    names = _strings(arrays, 'output_names')
    if len(set(names)) != len(names):
        raise ValueError('`output_names` repeats a name: %s.' % names)
    for key in arrays:
        kind, slash, name = key.partition('/')
        if slash and kind in PER_OUTPUT_KINDS and name not in names:
            raise ValueError('it holds %r, but `output_names` lists only %s.' % (key, names))
        if slash and kind == 'inputs':
            _kind_in(arrays, key, _NUMERIC + 'U', 'numbers or text')
    for name in names:
        y_pred = _numeric(arrays, 'y_pred/' + name)
        if y_pred.ndim == 0:
            raise ValueError("'y_pred/%s' should have a sample axis; it is a scalar." % name)
        if 'y_true/' + name in arrays:
            y_true = _numeric(arrays, 'y_true/' + name)
            if y_true.ndim == 0 or len(y_true) != len(y_pred):
                raise ValueError("'y_true/%s' has shape %s but 'y_pred/%s' has shape %s: "
                                 'they should hold the same samples.'
                                 % (name, y_true.shape, name, y_pred.shape))
        _check_settings(arrays, name)
    log_names = _strings(arrays, 'log_names')
    log_values = _numeric(arrays, 'log_values', kinds='f')
    if log_values.shape != (len(log_names),):
        raise ValueError("'log_values' has shape %s; it should hold one value per "
                         "'log_names' entry (%d)." % (log_values.shape, len(log_names)))


def _check_settings(arrays, name):
    keys = ['task/' + name, 'threshold/' + name]
    present = [k for k in keys if k in arrays]
    if present and len(present) != 2:
        raise ValueError('it holds %r without %r.' % (present[0], (set(keys) - set(present)).pop()))
    if 'class_names/' + name in arrays:
        if not present:
            raise ValueError("it holds 'class_names/%s' without 'task/%s'." % (name, name))
        _strings(arrays, 'class_names/' + name)
    if present:
        task = _kind_in(arrays, keys[0], 'U', 'text')
        if task.ndim != 0 or str(task) not in TASKS:
            raise ValueError('%r should be one of %s; got %r.' % (keys[0], list(TASKS), task))
        threshold = _numeric(arrays, keys[1], kinds='biuf')
        if threshold.ndim != 0:
            raise ValueError('%r should be a number; got shape %s.' % (keys[1], threshold.shape))


def _member(arrays, key):
    if key not in arrays:
        raise ValueError('it has no %r array (it has %s).' % (key, sorted(arrays)))
    return arrays[key]


def _kind_in(arrays, key, kinds, what):
    value = _member(arrays, key)
    if value.dtype.kind not in kinds:
        raise ValueError('%r should hold %s; it has dtype %s.' % (key, what, value.dtype))
    return value


def _numeric(arrays, key, kinds=_NUMERIC):
    return _kind_in(arrays, key, kinds, 'numbers' if len(kinds) > 1 else 'floats')


def _integer_scalar(arrays, key):
    value = _kind_in(arrays, key, 'iu', 'an integer')
    if value.ndim != 0:
        raise ValueError('%r should be one integer; got shape %s.' % (key, value.shape))
    return int(value)


def _strings(arrays, key):
    value = _kind_in(arrays, key, 'U', 'text')
    if value.ndim != 1:
        raise ValueError('%r should be a list of names; got shape %s.' % (key, value.shape))
    return [str(v) for v in value]


# --- the scalar logs both kinds keep ---------------------------------------------------

def _log_arrays(arrays, logs):
    """Adds `log_names` and `log_values`: the scalar entries of `logs`, sorted."""
    scalars = OrderedDict((k, float(np.asarray(v))) for k, v in sorted((logs or {}).items())
                          if is_scalar(v))
    arrays['log_names'] = np.array(list(scalars), dtype='U')
    arrays['log_values'] = np.array(list(scalars.values()), dtype='float64')
    return arrays


def _logs_of(arrays):
    """The scalar logs a file keeps, as an `OrderedDict`."""
    return OrderedDict(zip([str(n) for n in arrays['log_names']],
                           [float(v) for v in arrays['log_values']]))


# --- counts files ----------------------------------------------------------------------

KIND = 'counts'
FIELDS = ('confusion', 'positives', 'negatives', 'ignored')


def count_arrays(counts, epoch=None, logs=None, format_version=1):
    """The arrays of one `ReducedCounts` (see the module doc)."""
    spec = counts.spec
    arrays = OrderedDict([('format', np.int64(format_version)),
                          ('epoch', np.int64(-1 if epoch is None else epoch)),
                          ('kind', np.array(KIND, dtype='U')),
                          ('output_names', np.array(counts.output_names, dtype='U')),
                          ('num_classes', np.int64(spec.num_classes)),
                          ('bins', np.int64(spec.bins)),
                          ('threshold', np.float64(spec.threshold)),
                          ('batches', np.int64(counts.batches))])
    for name in counts.output_names:
        for field in FIELDS:
            arrays['%s/%s' % (field, name)] = np.asarray(getattr(counts[name], field),
                                                         np.int64)
    return _log_arrays(arrays, logs)


def is_count_file(arrays):
    return 'kind' in arrays and str(arrays['kind']) == KIND


class CountsFile(object):
    """A counts file as read back: `path`, `epoch`, `counts` (`ReducedCounts`),
    `logs` (`OrderedDict` of the epoch's scalar logs)."""

    def __init__(self, path, arrays):
        self.path = path
        self.epoch = int(arrays['epoch'])
        names = [str(n) for n in arrays['output_names']]
        spec = ReduceSpec(int(arrays['num_classes']), int(arrays['bins']),
                          float(arrays['threshold']))
        parts = dict((name, OutputCounts(spec.num_classes, spec.bins, *[
            arrays['%s/%s' % (field, name)] for field in FIELDS])) for name in names)
        self.counts = ReducedCounts(spec, names, parts, int(arrays['batches']))
        self.output_names = names
        self.logs = _logs_of(arrays)

    def __repr__(self):
        return 'CountsFile(%r, epoch=%d, outputs=%r)' % (self.path, self.epoch,
                                                         self.output_names)


# --- predictions files -----------------------------------------------------------------

def prediction_arrays(gts_and_preds, epoch=None, metrics=None, logs=None,
                      include_inputs=False):
    """The arrays `save_predictions` writes (see the module doc for the layout)."""
    if is_reduced(gts_and_preds):
        # Reducing mode: the counts and histograms (a counts file).
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
    return _log_arrays(arrays, logs)


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
        self.logs = _logs_of(arrays)

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
        A `PredictionFile`, or a `CountsFile` for reducing-mode counts.

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
