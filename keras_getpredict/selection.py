"""Parse the `get_predict` argument and check it against a model's names."""
from __future__ import absolute_import

import numpy as np
import six

ACCEPTED_FORMS = ('`True`/`False`, an output name, a list of output names, or a dict '
                  "with keys 'outputs' (output names, or True for all) and "
                  "'inputs' (input names)")


class Selection(object):
    """What one `get_predict` call captures.

    # Arguments
        outputs: tuple of output names, or `None` for every output.
        inputs: tuple of input names whose fed values are kept alongside.
    """

    def __init__(self, outputs=None, inputs=()):
        self.outputs = outputs
        self.inputs = tuple(inputs)

    @property
    def key(self):
        return (self.outputs, self.inputs)

    def __repr__(self):
        return 'Selection(outputs=%r, inputs=%r)' % (self.outputs, self.inputs)


def _names(value, what):
    if isinstance(value, six.string_types):
        value = (value,)
    if not isinstance(value, (list, tuple)):
        raise TypeError('`get_predict` %s should be a name or a list of names; '
                        'got %s.' % (what, type(value).__name__))
    for name in value:
        if not isinstance(name, six.string_types):
            raise TypeError('`get_predict` %s should be names (strings); '
                            'got %r of type %s.' % (what, name, type(name).__name__))
    # Keep the first occurrence of each name, in the order given.
    return tuple(sorted(set(value), key=list(value).index))


def parse_get_predict(value):
    """Turns a `get_predict` argument into a `Selection`.

    # Arguments
        value: `False`/`None` (off), `True` (all outputs), an output name,
            a list of output names, or a dict with keys `'outputs'`
            and/or `'inputs'`.

    # Returns
        A `Selection`, or `None` when capture is off.

    # Raises
        TypeError: In case `value` is none of the accepted forms.
        ValueError: In case the selection is empty or the dict has other keys.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return Selection() if value else None
    if isinstance(value, dict):
        unknown = sorted(set(value) - {'outputs', 'inputs'})
        if unknown:
            raise ValueError('Unknown keys in `get_predict`: %s. Allowed keys: '
                             "'outputs', 'inputs'." % unknown)
        outputs = value.get('outputs', True)
        if outputs is True or outputs is None:
            outputs = None
        elif outputs is False:
            raise ValueError("`get_predict['outputs']` cannot be False: "
                             'select at least one output (or True for all).')
        else:
            outputs = _names(outputs, "'outputs'")
        inputs = _names(value.get('inputs', ()), "'inputs'")
        selection = Selection(outputs, inputs)
    elif isinstance(value, (six.string_types, list, tuple)):
        selection = Selection(outputs=_names(value, 'outputs'))
    else:
        raise TypeError('`get_predict` should be %s; got %r of type %s.'
                        % (ACCEPTED_FORMS, value, type(value).__name__))
    if selection.outputs is not None and not selection.outputs:
        raise ValueError('`get_predict` selects no output. Pass True for all '
                         'outputs, or name at least one output.')
    return selection


def check_names(model, selection):
    """Raises `ValueError` naming the model's outputs/inputs when a name is unknown.

    Models that are not built yet (a `Sequential` without an input shape) have no
    names; they are checked when capture starts.
    """
    output_names = getattr(model, 'output_names', None)
    input_names = getattr(model, 'input_names', None)
    if output_names is not None and selection.outputs is not None:
        unknown = [n for n in selection.outputs if n not in output_names]
        if unknown:
            raise ValueError('Unknown output name(s) in `get_predict`: %s. '
                             'The model\'s outputs are: %s.' % (unknown, list(output_names)))
    if input_names is not None:
        unknown = [n for n in selection.inputs if n not in input_names]
        if unknown:
            raise ValueError('Unknown input name(s) in `get_predict`: %s. '
                             'The model\'s inputs are: %s.' % (unknown, list(input_names)))
