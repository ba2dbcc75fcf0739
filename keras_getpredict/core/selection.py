"""Parse the `get_predict` argument and check it against a model's names."""
from __future__ import absolute_import

import numpy as np
import six

from .streaming import parse_reduce

ACCEPTED_FORMS = ('`True`/`False`, an output name, a list of output names, or a dict '
                  "with keys 'outputs' (output names, or True for all), "
                  "'inputs' (input names), 'gather' and 'shards' (under Horovod), "
                  "'reduce' (counts instead of predictions, see core/streaming.py)")
DICT_KEYS = ('outputs', 'inputs', 'gather', 'shards', 'reduce')
# Under Horovod: where the gathered predictions go, and how the ranks split the data.
GATHER_NAMES = ('all', 'root')
SHARDS_NAMES = ('contiguous', 'strided')


class Selection(object):
    """What one `get_predict` call captures.

    # Arguments
        outputs: tuple of output names, or `None` for every output.
        inputs: tuple of input names whose fed values are kept alongside.
        gather: under Horovod, `None` (the default of each method), `'all'`,
            `'root'` or `False`; see `keras_getpredict.distributed`.
        shards: how the ranks split the validation data, `'contiguous'` or
            `'strided'`; decides the order of the gathered samples.
        reduce: a `ReduceSpec` (reducing mode: counts, not predictions), or `None`.
    """

    def __init__(self, outputs=None, inputs=(), gather=None, shards='contiguous',
                 reduce=None):
        self.outputs = outputs
        self.inputs = tuple(inputs)
        self.gather = gather
        self.shards = shards
        self.reduce = reduce

    @property
    def key(self):
        # What is fetched from the graph; `gather`/`shards` only act afterwards.
        return (self.outputs, self.inputs, None if self.reduce is None else self.reduce.key)

    def __repr__(self):
        return 'Selection(outputs=%r, inputs=%r, gather=%r, shards=%r, reduce=%r)' % (
            self.outputs, self.inputs, self.gather, self.shards, self.reduce)


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
            a list of output names, or a dict with keys `'outputs'`,
            `'inputs'`, `'gather'` (`'all'`, `'root'`, `True` for `'all'`,
            `False`), `'shards'` (`'contiguous'`, `'strided'`) and `'reduce'`
            (`{'num_classes': C, 'bins': 200, 'threshold': 0.5}`: fold each
            batch into a confusion matrix and score histograms instead of
            keeping it; see `core/streaming.py`).

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
        unknown = sorted(set(value) - set(DICT_KEYS))
        if unknown:
            raise ValueError('Unknown keys in `get_predict`: %s. Allowed keys: %s.'
                             % (unknown, ', '.join(repr(k) for k in DICT_KEYS)))
        outputs = value.get('outputs', True)
        if outputs is True or outputs is None:
            outputs = None
        elif outputs is False:
            raise ValueError("`get_predict['outputs']` cannot be False: "
                             'select at least one output (or True for all).')
        else:
            outputs = _names(outputs, "'outputs'")
        inputs = _names(value.get('inputs', ()), "'inputs'")
        gather = value.get('gather')
        if gather is True:
            gather = 'all'
        if not (gather is None or gather is False or
                (isinstance(gather, six.string_types) and gather in GATHER_NAMES)):
            raise ValueError("`get_predict['gather']` should be 'all', 'root', True "
                             "(same as 'all') or False; got %r." % (gather,))
        shards = value.get('shards', 'contiguous')
        if not (isinstance(shards, six.string_types) and shards in SHARDS_NAMES):
            raise ValueError("`get_predict['shards']` should be 'contiguous' or "
                             "'strided'; got %r." % (shards,))
        reduce = parse_reduce(value.get('reduce'))
        if reduce is not None and inputs:
            raise ValueError("`get_predict['inputs']` cannot be combined with "
                             "`get_predict['reduce']`: the reducing mode keeps counts only.")
        selection = Selection(outputs, inputs, gather, shards, reduce)
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
