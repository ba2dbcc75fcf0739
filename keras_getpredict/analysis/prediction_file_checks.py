"""Checks the members of a predictions file before `PredictionFile` reads them.

Each check raises `ValueError` saying which member is wrong and what was expected,
so `load_predictions` (and `keras-getpredict report`) never fail later with a
`KeyError` or an `IndexError` on a damaged or hand-made file.
"""
from __future__ import absolute_import

from .classification import TASKS

#: The format of the prediction files this package writes; it reads 1 up to this one.
FORMAT = 1
#: Members kept per output, as `<kind>/<output name>`.
PER_OUTPUT_KINDS = ('y_true', 'y_pred', 'task', 'threshold', 'class_names')
_NUMERIC = 'biuf'


def check_arrays(arrays):
    """Raises `ValueError` unless `arrays` (member name to array) is a readable
    predictions file of a format this package knows (see `prediction_files`)."""
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
