"""The container the predictions arrive in, and the helper that flattens it."""
from __future__ import absolute_import

from collections import OrderedDict

import numpy as np
import scipy.sparse

#: The epoch-logs key that holds the validation predictions.
LOGS_KEY = 'val_gts_and_preds'


class GtsAndPreds(dict):
    """Per-batch ground truth and predictions: `{'y_true': [...], 'y_pred': [...]}`.

    A plain `dict` with one entry per evaluated batch in each list, so code written
    for per-batch nested lists (`preds['y_pred'][batch][sample]`) keeps working.
    Each entry is a numpy array, or, when several outputs are captured, a list of arrays in
    `output_names` order (`None` where an output has no target). When inputs were
    captured, `'inputs'` maps each input name to its per-batch arrays; when layer
    outputs were captured (`get_predict={'layers': ...}`), `'layers'` maps each
    `'<layer name>/<output index>'` to its per-batch arrays. With graph sums
    (`get_predict['sums']`), `'sums'` maps each sum's name to its epoch total (one
    float64 array; `core/graph_sums.py`).

    # Attributes
        output_names: names of the captured outputs, in entry order.
    """

    def __init__(self, output_names=(), y_true=None, y_pred=None, inputs=None, layers=None,
                 sums=None):
        super(GtsAndPreds, self).__init__()
        self.output_names = list(output_names)
        self['y_true'] = y_true if y_true is not None else []
        self['y_pred'] = y_pred if y_pred is not None else []
        if inputs:
            self['inputs'] = inputs
        if layers:
            self['layers'] = layers
        if sums:
            self['sums'] = sums

    def __reduce__(self):
        # Keep `output_names` through copy/deepcopy/pickle.
        return (GtsAndPreds, (self.output_names, self['y_true'], self['y_pred'],
                              self.get('inputs'), self.get('layers'), self.get('sums')))


def output_names_of(gts_and_preds):
    """The names of the captured outputs, in entry order.

    `GtsAndPreds.output_names` when it matches the entries; for a plain dict (one
    rebuilt by hand, or from an older pickle) `'output'` for a single output and
    `'output_0'`, `'output_1'`, ... for several.
    """
    names = list(getattr(gts_and_preds, 'output_names', None) or [])
    entries = gts_and_preds.get('y_pred') or []
    first = entries[0] if entries else None
    if isinstance(first, list):
        return names if len(names) == len(first) else [
            'output_%d' % i for i in range(len(first))]
    return names if len(names) > 1 and not entries else (names[:1] or ['output'])


def outputs_by_name(gts_and_preds):
    """Per-sample `(y_true, y_pred)` of each captured output, by output name.

    # Returns
        An `OrderedDict` of output name to a pair of arrays (`y_true` is `None`
        where the output has no target), batches concatenated.
    """
    flat = concat_batches(gts_and_preds)
    names = output_names_of(gts_and_preds)
    if isinstance(flat['y_pred'], list):
        pairs = zip(flat['y_true'], flat['y_pred'])
    else:
        pairs = [(flat['y_true'], flat['y_pred'])]
    return OrderedDict(zip(names, pairs))


def _concat(batches, what):
    shapes = [np.shape(b) for b in batches]
    if any(len(s) == 0 for s in shapes):
        raise ValueError('Cannot concatenate %s: some batches are scalars (shapes %s).'
                         % (what, shapes))
    if len(set(s[1:] for s in shapes)) > 1:
        raise ValueError('Cannot concatenate %s: batch shapes differ beyond the '
                         'first (sample) axis: %s. Keep the per-batch lists, or pad '
                         'the batches to one shape.' % (what, sorted(set(shapes))))
    if any(scipy.sparse.issparse(b) for b in batches):
        # Sparse inputs are kept as fed (scipy matrices); stack them as such.
        return scipy.sparse.vstack(batches, format='csr')
    return np.concatenate(batches, axis=0)


def _concat_entries(entries, output_names, key):
    if not entries:
        return np.zeros((0,)) if len(output_names) <= 1 else [None] * len(output_names)
    if not isinstance(entries[0], list):
        if entries[0] is None:
            return None
        return _concat(entries, "'%s'" % key)
    per_output = []
    for i, name in enumerate(output_names):
        column = [entry[i] for entry in entries]
        if column[0] is None:
            per_output.append(None)
        else:
            per_output.append(_concat(column, "'%s' of output '%s'" % (key, name)))
    return per_output


def concat_batches(gts_and_preds):
    """Joins the per-batch entries into per-sample arrays.

    # Arguments
        gts_and_preds: the value of `logs['val_gts_and_preds']`, or the second
            item returned by `evaluate_generator(..., get_predict=True)`.

    # Returns
        A dict with the same keys: `'y_true'` and `'y_pred'` each one array of
        shape `(samples, ...)` (a list of such arrays, one per captured output,
        for several outputs; `None` where an output has no target), and
        `'inputs'` and `'layers'`, when present, mapping names to arrays.

    # Raises
        ValueError: In case batches of one entry differ in shape beyond the
            first axis (then they cannot be stacked sample by sample).

    # Example
    ```python
    flat = keras_getpredict.concat_batches(logs['val_gts_and_preds'])
    accuracy = np.mean(flat['y_true'].argmax(-1) == flat['y_pred'].argmax(-1))
    ```
    """
    if not isinstance(gts_and_preds, dict) or 'y_pred' not in gts_and_preds:
        raise ValueError('`concat_batches` expects the dict found in '
                         "`logs['%s']`, with keys 'y_true' and 'y_pred'; got %s."
                         % (LOGS_KEY, type(gts_and_preds).__name__))
    names = output_names_of(gts_and_preds)
    flat = {'y_true': _concat_entries(gts_and_preds['y_true'], names, 'y_true'),
            'y_pred': _concat_entries(gts_and_preds['y_pred'], names, 'y_pred')}
    if 'inputs' in gts_and_preds:
        flat['inputs'] = {name: _concat(batches, "input '%s'" % name)
                          for name, batches in gts_and_preds['inputs'].items()}
    if 'layers' in gts_and_preds:
        flat['layers'] = {key: _concat(batches, "layer output '%s'" % key)
                          for key, batches in gts_and_preds['layers'].items()}
    return flat
