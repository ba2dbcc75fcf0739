"""The language of `get_predict`: each key's parsing and how two requests of it merge.

A new key touches this module (`parse_get_predict`, a `Selection` field, its rule in
`merge_selections`) and the mode that uses it (`core/modes.py`): see
docs/architecture.md, "Adding a `get_predict` key".
"""
from __future__ import absolute_import

import numpy as np
import six

from .failures import ConfigurationError, ConfigurationTypeError
from .graph_sums import parse_sums
from .reduce_spec import merge_specs, parse_reduce

ACCEPTED_FORMS = ('`True`/`False`, an output name, a list of output names, or a dict '
                  "with keys 'outputs' (output names, or True for all), "
                  "'inputs' (input names), 'layers' (layer outputs), 'gather' and "
                  "'shards' (under Horovod), 'reduce' (counts instead of predictions, "
                  "see core/reduce_counts.py), 'sums' (graph sums, see core/graph_sums.py)")
DICT_KEYS = ('outputs', 'inputs', 'gather', 'shards', 'layers', 'reduce', 'sums')
LAYERS_FORMS = ("a layer name, a list of layer names or (name, output index) pairs, "
                "or a dict of layer name to an output index or a list of indices")
# Under Horovod: where the gathered predictions go, and how the ranks split the data.
GATHER_NAMES = ('all', 'root')
SHARDS_NAMES = ('contiguous', 'strided')
#: How the ranks split the data when `get_predict['shards']` is left out.
DEFAULT_SHARDS = 'contiguous'


class Selection(object):
    """What one `get_predict` call captures.

    # Arguments
        outputs: tuple of output names, or `None` for every output.
        inputs: tuple of input names whose fed values are kept alongside.
        gather: under Horovod, `None` (the default of each method), `'all'`,
            `'root'` or `False`; see docs/horovod.md.
        shards: how the ranks split the validation data, `'contiguous'` or
            `'strided'`; decides the order of the gathered samples.
        layers: tuple of `(layer name, output index)` pairs whose values are
            fetched in the same session run (index `None`: the layer's only
            output); they arrive under `'layers'`, keyed by `layer_key`.
        reduce: a `ReduceSpec` (reducing mode: counts, not predictions), or `None`.
        sums: graph-sum objects (`core/graph_sums.py`) whose per-batch values are
            added up over the epoch.
        given: the keys of a dict `get_predict` that were spelled out (merging
            requests tells a chosen `shards` from the default by it).
    """

    def __init__(self, outputs=None, inputs=(), gather=None, shards=DEFAULT_SHARDS,
                 layers=(), reduce=None, given=(), sums=()):
        self.outputs = outputs
        self.inputs = tuple(inputs)
        self.gather = gather
        self.shards = shards
        self.layers = tuple(layers)
        self.reduce = reduce
        self.sums = tuple(sums)
        self.given = frozenset(given)

    @property
    def key(self):
        # What is fetched from the graph; `gather`/`shards` only act afterwards.
        return (self.outputs, self.inputs, self.layers,
                None if self.reduce is None else self.reduce.key,
                tuple((s.name, s.key) for s in self.sums))

    @property
    def keeps_arrays(self):
        """Whether batches of arrays are kept (outputs, inputs or layer outputs), not
        only graph sums."""
        return self.outputs is None or bool(self.outputs or self.inputs or self.layers)

    def __repr__(self):
        return ('Selection(outputs=%r, inputs=%r, gather=%r, shards=%r, layers=%r, '
                'reduce=%r, sums=%r)' % (self.outputs, self.inputs, self.gather, self.shards,
                                         self.layers, self.reduce,
                                         [s.name for s in self.sums]))


def layer_key(name, index):
    """The key of one captured layer output: `'proposal_targets/1'`, or the bare
    layer name for a layer's only output (index `None`)."""
    return name if index is None else '%s/%d' % (name, index)


def _index(value, name):
    if value is None or isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, (six.integer_types, np.integer)) or value < 0:
        raise ConfigurationTypeError(
            "`get_predict['layers']` output index of layer %r should be a "
            'non-negative integer; got %r.' % (name, value))
    return int(value)


def parse_layers(value):
    """`(layer name, output index)` pairs from `get_predict['layers']`.

    # Arguments
        value: a layer name (its only output), a list of layer names or
            `(name, index)` pairs, or a dict of layer name to an index or a
            list of indices.

    # Returns
        A tuple of `(name, index)` pairs, index `None` for a bare name, in the
        order given, without repeats.

    # Raises
        TypeError: In case `value` is none of these forms.
    """
    if isinstance(value, six.string_types):
        value = [value]
    pairs = []
    if isinstance(value, dict):
        for name in value:
            indices = value[name]
            if not isinstance(indices, (list, tuple)):
                indices = [indices]
            pairs.extend((name, _index(i, name)) for i in indices)
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, six.string_types):
                pairs.append((item, None))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs.append((item[0], _index(item[1], item[0])))
            else:
                raise ConfigurationTypeError(
                    "`get_predict['layers']` should be %s; got the item %r."
                    % (LAYERS_FORMS, item))
    else:
        raise ConfigurationTypeError(
            "`get_predict['layers']` should be %s; got %r of type %s."
            % (LAYERS_FORMS, value, type(value).__name__))
    for name, _ in pairs:
        if not isinstance(name, six.string_types):
            raise ConfigurationTypeError(
                "`get_predict['layers']` layer names should be strings; "
                'got %r of type %s.' % (name, type(name).__name__))
    return tuple(sorted(set(pairs), key=pairs.index))


def name_list(value, argument):
    """A tuple of names from a name or a list of names: the first occurrence of each,
    in the order given.

    # Raises
        TypeError: In case `value` is neither, naming `argument` (`'`outputs`'`).
    """
    if isinstance(value, six.string_types):
        value = (value,)
    if not isinstance(value, (list, tuple)):
        raise ConfigurationTypeError(
            '%s should be a name or a list of names; got %r of type %s.'
            % (argument, value, type(value).__name__))
    for name in value:
        if not isinstance(name, six.string_types):
            raise ConfigurationTypeError(
                '%s should hold names (strings); got %r of type %s.'
                % (argument, name, type(name).__name__))
    return tuple(sorted(set(value), key=list(value).index))


def parse_get_predict(value):
    """Turns a `get_predict` argument into a `Selection`.

    # Arguments
        value: `False`/`None` (off), `True` (all outputs), an output name,
            a list of output names, or a dict with keys `'outputs'`,
            `'inputs'`, `'gather'` (`'all'`, `'root'`, `True` for `'all'`,
            `False`), `'shards'` (`'contiguous'`, `'strided'`), `'layers'`
            (see `parse_layers`) and `'reduce'` (`{'num_classes': C, 'bins': 200,
            'threshold': 0.5}`: fold each batch into a confusion matrix and score
            histograms instead of keeping it; see `core/reduce_counts.py`) and
            `'sums'` (graph-sum objects, see `core/graph_sums.py`; alone, they
            capture no output).

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
            raise ConfigurationError(
                'Unknown keys in `get_predict`: %s. Allowed keys: %s.'
                % (unknown, ', '.join(repr(k) for k in DICT_KEYS)))
        sums = parse_sums(value['sums']) if value.get('sums') else ()
        # Graph sums alone keep no array: no output unless one is asked for.
        alone = sums and not any(key in value for key in ('outputs', 'inputs', 'layers'))
        outputs = value.get('outputs', () if alone else True)
        if outputs is True or outputs is None:
            outputs = None
        elif outputs is False:
            raise ConfigurationError(
                "`get_predict['outputs']` cannot be False: "
                'select at least one output (or True for all).')
        elif outputs != ():
            outputs = name_list(outputs, "`get_predict['outputs']`")
        inputs = name_list(value.get('inputs', ()), "`get_predict['inputs']`")
        gather = value.get('gather')
        if gather is True:
            gather = 'all'
        if not (gather is None or gather is False or
                (isinstance(gather, six.string_types) and gather in GATHER_NAMES)):
            raise ConfigurationError(
                "`get_predict['gather']` should be 'all', 'root', True "
                "(same as 'all') or False; got %r." % (gather,))
        shards = value.get('shards', DEFAULT_SHARDS)
        if not (isinstance(shards, six.string_types) and shards in SHARDS_NAMES):
            raise ConfigurationError(
                "`get_predict['shards']` should be 'contiguous' or "
                "'strided'; got %r." % (shards,))
        layers = parse_layers(value.get('layers', ()))
        reduce = parse_reduce(value.get('reduce'))
        if reduce is not None and (inputs or layers):
            raise ConfigurationError(
                "`get_predict['inputs']` and `get_predict['layers']` cannot "
                "be combined with `get_predict['reduce']`: the reducing "
                'mode keeps counts only.')
        if reduce is not None and sums:
            raise ConfigurationError(
                "`get_predict['sums']` cannot be combined with "
                "`get_predict['reduce']`: give them to separate calls.")
        selection = Selection(outputs, inputs, gather, shards, layers, reduce, given=value,
                              sums=sums)
    elif isinstance(value, (six.string_types, list, tuple)):
        selection = Selection(outputs=name_list(value, '`get_predict` outputs'))
    else:
        raise ConfigurationTypeError(
            '`get_predict` should be %s; got %r of type %s.'
            % (ACCEPTED_FORMS, value, type(value).__name__))
    if selection.outputs is not None and not selection.outputs and not selection.sums:
        raise ConfigurationError(
            '`get_predict` selects no output. Pass True for all '
            'outputs, or name at least one output.')
    return selection


def _union(groups):
    merged = []
    for group in groups:
        merged.extend(item for item in group if item not in merged)
    return tuple(merged)


def merge_selections(selections, agreed):
    """One `Selection` of the call from those of its requests, key by key.

    Outputs, inputs and layers: the union (all outputs when one asks for all);
    `gather` and `shards`: those spelled out must agree (`agreed`); reducing specs:
    see `reduce_spec.merge_specs`; graph sums: the union by name.

    # Arguments
        selections: the `Selection` of each request, in the order asked.
        agreed: `agreed(what, value_of)`, the one value that the selections spelling
            `what` out give (`value_of(selection)`, `None` when one leaves it out),
            raising a `ConfigurationError` naming who asked when they differ.

    # Raises
        ConfigurationError: In case two selections spell out different values.
    """
    reducing = [s for s in selections if s.reduce is not None]
    return Selection(
        outputs=(None if any(s.outputs is None for s in selections)
                 else _union(s.outputs for s in selections)),
        inputs=_union(s.inputs for s in selections),
        gather=agreed("Horovod gathering ('gather')", lambda s: s.gather),
        shards=agreed("shards ('shards')",
                      lambda s: s.shards if 'shards' in s.given else None) or DEFAULT_SHARDS,
        layers=_union(s.layers for s in selections),
        reduce=merge_specs(reducing, agreed) if reducing else None,
        given=set().union(*(s.given for s in selections)),
        sums=parse_sums([item for s in selections for item in s.sums]))
