"""Reducing mode: each validation batch folded into fixed-size counts, then dropped.

`get_predict={'reduce': {'num_classes': C, 'bins': B}}` keeps, per captured output
that has targets, a CxC confusion matrix (rows: true class, columns: predicted class)
and, per class, two B-bin histograms of that class's score over the samples of that
class (`positives`) and of every other class (`negatives`). Memory is O(C^2 + C*B)
whatever the number of samples, and no batch is copied: each one is counted while
the generator's buffer still holds it.

Every axis but the last is a sample axis, so per-pixel outputs `(n, H, W, C)` count
every pixel. Labels are one-hot (same shape as the output) or integer class ids
(the output's shape without the class axis, or with a class axis of 1). An output
with one unit is binary: its score is the positive class's, class 1 is predicted from
`threshold` on, and class 0's score is `1 - score`. Labels outside `[0, C)` (for
example a void label 255) are left out of every count and counted in `ignored`.

Bin `k` of `B` holds scores in `[k/B, (k+1)/B)` (scores are clipped to [0, 1]; 1.0
falls in the last bin), so the number of samples scored at least `k/B` is exact at
every bin edge; see `keras_getpredict.analysis.class_metrics` for the curves.
"""
from __future__ import absolute_import

import numpy as np

from .failures import ConfigurationError
# The spec lives apart, so that parsing `get_predict` needs nothing of the counting.
from .reduce_spec import ReduceSpec, parse_reduce  # noqa: F401 (its public home)


def units_mismatch(c, units):
    return ("`get_predict['reduce']['num_classes']` is %d but the output has %s unit(s) "
            'on its last axis (allowed: %d, or 1 for a binary output with num_classes=2).'
            % (c, units, c))


def class_units(y_pred, num_classes):
    """The length of `y_pred`'s class axis: TensorFlow's static shape, else Keras'
    (`K.int_shape`), else `num_classes` (checked on the graph by `count_tensors`).

    # Raises
        ConfigurationError: In case a known length does not fit `num_classes`.
    """
    from .families import int_shape
    units = y_pred.shape[-1].value if y_pred.shape.ndims else None
    if units is None:
        keras_shape = int_shape(y_pred)
        units = keras_shape[-1] if keras_shape else None
    if units is None:
        return num_classes
    units = int(units)  # Keras' shapes may hold numpy integers
    if not (units == num_classes or (units == 1 and num_classes == 2)):
        raise ConfigurationError(units_mismatch(num_classes, units))
    return units


def check_class_axes(model, selection, family):
    """Raises `ConfigurationError` before anything runs when an output the reducing mode
    counts has a known class axis that does not fit `num_classes`."""
    from .resolve import resolve
    resolved = resolve(model, selection, family)
    for name, output, target in zip(resolved.output_names, resolved.outputs,
                                    resolved.targets):
        if target is not None:
            try:
                class_units(output, selection.reduce.num_classes)
            except ConfigurationError as e:
                raise ConfigurationError('Output %r: %s' % (name, e))


class OutputCounts(object):
    """The running counts of one output.

    # Attributes
        confusion: `(C, C)` int64, `confusion[true, predicted]`.
        positives: `(C, bins)` int64, histogram of class `c`'s score over the
            samples whose label is `c`.
        negatives: `(C, bins)` int64, the same over the other samples.
        ignored: samples whose label was outside `[0, C)`.
    """

    def __init__(self, num_classes, bins, confusion=None, positives=None,
                 negatives=None, ignored=0):
        shape = (num_classes, bins)
        self.confusion = (np.zeros((num_classes, num_classes), np.int64)
                          if confusion is None else np.asarray(confusion, np.int64))
        self.positives = np.zeros(shape, np.int64) if positives is None else \
            np.asarray(positives, np.int64)
        self.negatives = np.zeros(shape, np.int64) if negatives is None else \
            np.asarray(negatives, np.int64)
        self.ignored = int(ignored)

    @property
    def num_classes(self):
        return self.confusion.shape[0]

    @property
    def bins(self):
        return self.positives.shape[1]

    @property
    def samples(self):
        return int(self.confusion.sum())

    def flat(self):
        """Every count in one int64 vector (what Horovod sums); see `from_flat`."""
        return np.concatenate([self.confusion.ravel(), self.positives.ravel(),
                               self.negatives.ravel(), [self.ignored]])

    @classmethod
    def from_flat(cls, vector, num_classes, bins):
        c2, cb = num_classes * num_classes, num_classes * bins
        vector = np.asarray(vector, np.int64)
        return cls(num_classes, bins, vector[:c2].reshape(num_classes, num_classes),
                   vector[c2:c2 + cb].reshape(num_classes, bins),
                   vector[c2 + cb:c2 + 2 * cb].reshape(num_classes, bins),
                   vector[c2 + 2 * cb])

    @staticmethod
    def flat_size(num_classes, bins):
        return num_classes * num_classes + 2 * num_classes * bins + 1

    def __repr__(self):
        return 'OutputCounts(num_classes=%d, bins=%d, samples=%d)' % (
            self.num_classes, self.bins, self.samples)


class ReducedCounts(dict):
    """What the reducing mode publishes: output name -> `OutputCounts`.

    Found where the full capture puts its `GtsAndPreds`: in
    `logs['val_gts_and_preds']`, or second in what `evaluate*(...)` returns.

    # Attributes
        output_names: the counted outputs, in model order.
        batches: how many validation batches were folded in (summed over ranks).
        spec: the `ReduceSpec`.
    """

    #: Marks counts whichever copy of this module made them (the fork vendors it
    #: as `keras.getpredict.reduce_counts`, so `isinstance` cannot tell).
    holds_reduced_counts = True

    def __init__(self, spec, output_names=(), counts=None, batches=0):
        super(ReducedCounts, self).__init__()
        self.spec = spec
        self.output_names = list(output_names)
        self.batches = int(batches)
        for name in self.output_names:
            self[name] = (counts or {}).get(name) or OutputCounts(spec.num_classes,
                                                                  spec.bins)

    def __reduce__(self):
        return (ReducedCounts, (self.spec, self.output_names, dict(self), self.batches))


def _labels(y_true, y_pred, num_classes):
    """Integer labels with the sample shape of `y_pred` (all axes but the last)."""
    y_true = np.asarray(y_true)
    sample_shape = y_pred.shape[:-1]
    if y_pred.shape[-1] > 1 and y_true.shape == y_pred.shape:
        return y_true.argmax(-1)
    if y_true.shape == sample_shape + (1,):
        y_true = y_true[..., 0]
    if y_true.shape != sample_shape:
        raise ConfigurationError(
            'Reducing mode cannot match targets of shape %s to outputs of shape %s: targets '
            'should be one-hot (the same shape) or integer class ids (shape %s, or with a '
            'last axis of 1).' % (y_true.shape, y_pred.shape, sample_shape))
    if y_pred.shape[-1] == 1:
        # Binary targets may be soft (label smoothing): round at 0.5.
        return (y_true >= 0.5).astype(np.intp)
    return y_true.astype(np.intp, copy=False)


def fold(counts, spec, y_true, y_pred):
    """Adds one batch of one output to `counts` (an `OutputCounts`), in place.

    # Raises
        ValueError: In case the output's class axis does not fit `num_classes`,
            or the targets' shape does not fit the output's.
    """
    y_pred = np.asarray(y_pred)
    c = spec.num_classes
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    units = y_pred.shape[-1]
    if not (units == c or (units == 1 and c == 2)):
        raise ConfigurationError(units_mismatch(c, units))
    labels = _labels(y_true, y_pred, c).ravel()
    if not labels.size:
        return
    scores = y_pred.reshape(-1, units)
    if units == 1:
        predicted = (scores[:, 0] >= spec.threshold).astype(np.intp)
    else:
        predicted = scores.argmax(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        keep = (labels >= 0) & (labels < c)
        counts.ignored += int(labels.size - keep.sum())
        labels, predicted, scores = labels[keep], predicted[keep], scores[keep]
    counts.confusion += np.bincount(labels * c + predicted,
                                    minlength=c * c).reshape(c, c)
    if spec.bins and labels.size:  # (every label of the batch may be ignored)
        _fold_histograms(counts, spec, labels, scores)


def _bin_index(scores, bins):
    """Bin of each score: floor(score * bins) in [0, bins] (1.0 lands in bin `bins`,
    folded into the last bin after counting, cheaper than clipping every score)."""
    low, high = scores.min(), scores.max()
    if low < 0. or high > 1.:
        scores = np.clip(scores, 0., 1.)
    # float32 products: k/B <= s exactly when floor(s*B) >= k, up to the last ulp.
    return (scores * scores.dtype.type(bins)).astype(np.int32)


def _fold_histograms(counts, spec, labels, scores):
    bins, stride = spec.bins, spec.bins + 1
    if scores.shape[1] == 1:
        # Binary: class 1's score is the output, class 0's its complement.
        positive = scores[:, 0]
        scores = np.stack([1. - positive, positive], axis=1)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float32)
    c = scores.shape[1]
    index = _bin_index(scores, bins)
    index += np.arange(c, dtype=np.int32) * stride
    # Each class's score over every sample, then over the samples of that class.
    every_sample = np.bincount(index.ravel(), minlength=c * stride)
    own_scores = scores[np.arange(labels.size), labels]
    positives = np.bincount(labels * stride + _bin_index(own_scores, bins),
                            minlength=c * stride)
    add_histograms(counts, positives, every_sample - positives)


def add_table(counts, table):
    """Adds one batch's label x prediction table to `counts`: `(C + 2) * C` counts,
    row `label + 1` for labels in `[0, C)` and rows 0 and C + 1 for the labels below
    and above (`ignored`)."""
    c = counts.num_classes
    table = np.asarray(table, np.int64).reshape(c + 2, c)
    counts.confusion += table[1:c + 1]
    counts.ignored += int(table[0].sum() + table[c + 1].sum())


def add_histograms(counts, positives, negatives):
    """Adds one batch's histograms to `counts`: `positives` (each class's score over
    the samples of that class) and `negatives` (over the other samples), each
    `C * (bins + 1)` counts with score 1.0 in the extra last bin of each class
    (folded into the last bin here)."""
    c, bins = counts.positives.shape
    for total, batch in ((counts.positives, positives), (counts.negatives, negatives)):
        batch = np.asarray(batch, np.int64).reshape(c, bins + 1)
        total += batch[:, :bins]
        total[:, bins - 1] += batch[:, bins]


class ReducingRecorder(object):
    """A `BatchRecorder` for the reducing mode: counts instead of batches.

    # Arguments
        spec: the `ReduceSpec`.
        output_names: the names counted when no batch arrives on this rank
            (Horovod sums every rank's counts, also of a rank with no batch).
    """

    #: The capture copies fed arrays only for recorders that keep them.
    keeps_batches = False

    def __init__(self, spec, output_names=None):
        self.spec = spec
        self.output_names = output_names
        self.clear()

    def clear(self):
        self._counts = None
        self._batches = 0
        self._fetched_sums = {}

    def __len__(self):
        return self._batches

    def _start(self, fetches):
        names = [name for name, target in zip(fetches.output_names, fetches.targets)
                 if target is not None]  # the fetches' `resolve`d targets
        if not names:
            raise ConfigurationError("`get_predict['reduce']` needs targets: none of the "
                                     'captured outputs %s has one.' % (fetches.output_names,))
        self.output_names = names
        self._counts = ReducedCounts(self.spec, names)

    def add(self, fetches, y_true, y_pred, inputs, layers=(), sums=()):
        if self._counts is None:
            self._start(fetches)
        for name, truth, pred in zip(fetches.output_names, y_true, y_pred):
            if name in self._counts and truth is not None:
                fold(self._counts[name], self.spec, truth, pred)
        self._count_batch()

    def add_counted(self, fetches, increments):
        """Adds one batch counted on the graph: output name -> `(table, positives,
        negatives)` as `core/graph_reduce.py` fetches them. They are summed as fetched
        and turned into counts at `take()` (`add_table`, `add_histograms`): a few
        additions per batch."""
        if self._counts is None:
            self._start(fetches)
        for name, fetched in increments.items():
            sums = self._fetched_sums.get(name)
            if sums is None:
                self._fetched_sums[name] = [np.array(f, np.int64) for f in fetched]
            else:
                for total, value in zip(sums, fetched):
                    total += value
        self._count_batch()

    def _add_fetched_sums(self):
        for name, (table, positives, negatives) in self._fetched_sums.items():
            add_table(self._counts[name], table)
            if self.spec.bins:
                add_histograms(self._counts[name], positives, negatives)
        self._fetched_sums = {}

    def _count_batch(self):
        self._batches += 1
        self._counts.batches = self._batches

    def take(self):
        """The counts so far as `ReducedCounts` (empty ones when nothing was
        recorded), and a fresh start."""
        if self._fetched_sums:
            self._add_fetched_sums()
        counts = self._counts
        if counts is None:
            counts = ReducedCounts(self.spec, self.output_names or ())
        self.clear()
        return counts


def is_reduced(value):
    """Whether a published value holds reducing-mode counts (from either form)."""
    return getattr(value, 'holds_reduced_counts', False) is True


def expected_output_names(model, selection, family):
    """The outputs a reducing run counts, from the model (before any batch); `None`
    for a model not built yet."""
    from .resolve import resolve
    if getattr(model, 'outputs', None) is None:
        return None
    return resolve(model, selection, family).names_with_targets or None
