"""Which outputs to compute metrics on, and how output and class names appear in logs
keys, summary tags and file names: the one rule for callbacks and reports."""
from __future__ import absolute_import

import re
from collections import OrderedDict

import six

_UNSAFE = re.compile(r'[^A-Za-z0-9_.\-]')


def safe_key(name):
    """`name` with every character other than letters, digits, `_`, `.` and `-`
    replaced by `_`: safe in a logs key, a TensorBoard tag and a file name."""
    return _UNSAFE.sub('_', str(name))


def check_outputs_argument(outputs):
    """Raises `TypeError` unless `outputs` is `None`, a name or a list of names."""
    names = [outputs] if isinstance(outputs, six.string_types) else outputs
    if outputs is not None and not (isinstance(names, (list, tuple)) and names and
                                    all(isinstance(n, six.string_types) for n in names)):
        raise TypeError('`outputs` should be None, an output name or a non-empty list of '
                        'names; got %r.' % (outputs,))


def choose_outputs(pairs, outputs=None):
    """Picks the outputs to compute metrics on.

    # Arguments
        pairs: `OrderedDict` of output name to `(y_true, y_pred)`, `y_true` `None`
            where the output has no targets (as from `core.results.outputs_by_name`).
        outputs: `None` (every output that has targets), an output name, or a
            list of names.

    # Returns
        An `OrderedDict` of the chosen names to their pairs, in `pairs` order
        for `None`, in the given order otherwise.

    # Raises
        ValueError: In case a name is not among `pairs`, or a chosen output has
            no targets.
    """
    names = list(pairs)
    with_targets = [n for n in names if pairs[n][0] is not None]
    if outputs is None:
        if not with_targets:
            raise ValueError('None of the captured outputs %s has targets (y_true), so no '
                             'metrics can be computed.' % names)
        return OrderedDict((n, pairs[n]) for n in with_targets)
    check_outputs_argument(outputs)
    chosen = [outputs] if isinstance(outputs, six.string_types) else list(outputs)
    unknown = [n for n in chosen if n not in pairs]
    if unknown:
        raise ValueError('`outputs` names %s, but the predictions hold the outputs %s. '
                         'Capture them with `get_predict=True` or name them in '
                         '`get_predict`.' % (unknown, names))
    missing = [n for n in chosen if n not in with_targets]
    if missing:
        raise ValueError('Output(s) %s have no targets (y_true); metrics need labels. '
                         'Outputs with targets: %s.' % (missing, with_targets))
    return OrderedDict((n, pairs[n]) for n in chosen)
