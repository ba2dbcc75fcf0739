"""`get_predict['reduce']`: what the reducing mode counts, parsed and checked.

Apart from the counting (`core/reduce_counts.py`), so that parsing a `get_predict` needs
nothing of it.
"""
from __future__ import absolute_import

import numbers

import numpy as np

from .failures import ConfigurationError, ConfigurationTypeError

#: Keys of `get_predict['reduce']`.
REDUCE_KEYS = ('num_classes', 'bins', 'threshold', 'on_graph')


class ReduceSpec(object):
    """What the reducing mode counts.

    # Arguments
        num_classes: number of classes `C` (2 for a binary output with one unit).
        bins: score histogram bins per class (0: confusion matrix only).
        threshold: the score from which a binary output predicts class 1.
        on_graph: count in the same session run (TensorFlow ops; only the counts
            are fetched, the default: measured faster than numpy on CPU,
            docs/reduce.md) rather than in numpy on the fetched outputs.
            The counts are the same either way.
        given: the keys of `get_predict['reduce']` that were spelled out (merging
            two requests fills a key one leaves out from the other).
    """

    def __init__(self, num_classes, bins=200, threshold=0.5, on_graph=True, given=()):
        self.num_classes = num_classes
        self.bins = bins
        self.threshold = threshold
        self.on_graph = on_graph
        self.given = frozenset(given)

    @property
    def key(self):
        return (self.num_classes, self.bins, self.threshold, self.on_graph)

    def __repr__(self):
        return 'ReduceSpec(num_classes=%r, bins=%r, threshold=%r, on_graph=%r)' % self.key


def _is_int(value):
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def _checked(key, value):
    """`value` of `get_predict['reduce'][key]` as the spec holds it, or an error."""
    if key == 'num_classes':
        if not _is_int(value) or value < 2:
            raise ConfigurationError(
                "`get_predict['reduce']['num_classes']` should be an integer "
                ">= 2 (2 for a binary output); got %r." % (value,))
        return int(value)
    if key == 'bins':
        if not _is_int(value) or value < 0:
            raise ConfigurationError(
                "`get_predict['reduce']['bins']` should be an integer >= 0 "
                "(0: no score histograms); got %r." % (value,))
        return int(value)
    if key == 'threshold':
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                not 0. <= value <= 1.:
            raise ConfigurationError(
                "`get_predict['reduce']['threshold']` should be a number in "
                "[0, 1]; got %r." % (value,))
        return float(value)
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigurationTypeError(
            "`get_predict['reduce']['on_graph']` should be True or False; "
            "got %r." % (value,))
    return bool(value)


def parse_reduce(value):
    """Turns `get_predict['reduce']` into a `ReduceSpec` (`None` when absent/False);
    a key left out takes `ReduceSpec`'s default.

    # Raises
        TypeError: In case `value` is not a dict (or None/False).
        ValueError: In case of unknown keys or values out of range.
    """
    if value is None or value is False:
        return None
    if not isinstance(value, dict):
        raise ConfigurationTypeError(
            "`get_predict['reduce']` should be a dict with keys %s, "
            "e.g. {'num_classes': 21, 'bins': 200}; got %r."
            % (', '.join(repr(k) for k in REDUCE_KEYS), value))
    unknown = sorted(set(value) - set(REDUCE_KEYS))
    if unknown:
        raise ConfigurationError(
            "Unknown keys in `get_predict['reduce']`: %s. Allowed keys: %s."
            % (unknown, ', '.join(repr(k) for k in REDUCE_KEYS)))
    if 'num_classes' not in value:
        _checked('num_classes', None)
    return ReduceSpec(given=value, **dict((key, _checked(key, value[key]))
                                          for key in REDUCE_KEYS if key in value))


def merge_specs(selections, agreed):
    """One `ReduceSpec` from the selections of a call that use the reducing mode: a key
    spelled out by more than one must agree (`agreed`, see
    `selection.merge_selections`); a key one leaves out takes the other's value.

    # Raises
        ConfigurationError: In case two spell out different values of a key.
    """
    values = {}
    for key in REDUCE_KEYS:
        agreed_value = agreed(
            "reducing specs ('%s')" % key,
            lambda s, key=key: (getattr(s.reduce, key)
                                if s.reduce is not None and key in s.reduce.given else None))
        values[key] = getattr(selections[0].reduce, key) if agreed_value is None \
            else agreed_value
    return ReduceSpec(given=set().union(*(s.reduce.given for s in selections)), **values)
