"""Reducing mode on the graph (`get_predict['reduce']['on_graph']`): the counts of
each batch are computed by TensorFlow ops in the same session run as the loss, so only
`(C + 2)*C + 2*C*(bins + 1)` int32 counts per output are fetched instead of the
outputs, and the host adds them up (`ReducingRecorder.add_counted`).

The ops give `core/reduce_counts.py`'s numpy fold's counts (the same float32 product
`score * bins` truncated to an int, the same tie rule for the argmax: the first
maximum); tests compare them. They are few and read each score once or twice: the
validation pass is timed against stock Keras by `make bench-segmentation`
(docs/benchmarks.md has the profile that shaped them).

The class axis is read from TensorFlow's static shape, else from Keras' (`Reshape((h * w,
-1))` leaves TensorFlow's unknown while Keras knows it), else taken to be `num_classes`;
an op checks it against the output's actual shape, so a `num_classes` that does not fit
is a `ConfigurationError` at the first batch.
"""
from __future__ import absolute_import

from .families import raw_op, run_checked, tf_v1
from .recording import BatchFetches
from .failures import ConfigurationError
from .reduce_counts import class_units, units_mismatch

# The bits of float32 2 ** 23 (sign 0, exponent 150, mantissa 0).
_TWO_TO_23_BITS = 0x4B000000
# Starts the message of every check op here, so a failed check is told from other errors.
CHECK_MARK = 'keras-getpredict reducing mode check: '
TARGETS_MISMATCH = ('Reducing mode cannot match the targets to the outputs: targets should '
                    'be one-hot (the shape of the output) or integer class ids (its shape '
                    'without the class axis, or with a last axis of 1).')


def count_tensors(y_true, y_pred, spec):
    """`(table, positives, negatives)` int32 tensors of one batch of one output.

    `table` has `(C + 2) * C` entries, `[(row + 1) * C + predicted]` where `row` is the
    label clipped into `[-1, C]`: rows 1 to C hold the confusion matrix, rows 0 and
    C + 1 the samples whose label is outside `[0, C)` (`reduce_counts.add_table`).
    `positives`/`negatives` have `C*(bins + 1)` entries (`reduce_counts.add_histograms`),
    or one when `bins` is 0.

    # Raises
        ConfigurationError: In case the output's class axis does not fit
            `num_classes` (on the graph when only the actual shape tells).
    """
    import tensorflow as tf
    c = spec.num_classes
    units = class_units(y_pred, c)
    with tf.name_scope('getpredict_counts'):
        fits = tf_v1().assert_equal(tf.shape(y_pred)[-1], units,
                                    message=CHECK_MARK + 'units')
        with tf.control_dependencies([fits]):
            scores = tf.reshape(y_pred, [-1, units])
        labels, predicted = _labels_and_predicted(y_true, y_pred, scores, spec)
        check = tf_v1().assert_equal(tf.size(labels), tf.shape(scores)[0],
                                     message=CHECK_MARK + 'targets')
        with tf.control_dependencies([check]):
            row = _clip(labels, -1, c)
        table = _bincount((row + 1) * c + predicted, (c + 2) * c)
        if not spec.bins:
            empty = tf.zeros([1], tf.int32)
            return table, empty, empty
        positives, negatives = _histograms(scores, row, _within_unit_interval(y_pred), spec)
        return table, positives, negatives


def _labels_and_predicted(y_true, y_pred, scores, spec):
    """Each sample's label and predicted class, as int32 vectors."""
    import tensorflow as tf
    if scores.shape[-1] == 1:
        labels = tf.cast(tf.reshape(y_true, [-1]) >= 0.5, tf.int32)
        return labels, tf.cast(scores[:, 0] >= spec.threshold, tf.int32)
    c = spec.num_classes
    one_hot = tf.logical_and(tf.equal(tf.rank(y_true), tf.rank(y_pred)),
                             tf.equal(tf.shape(y_true)[-1], c))
    labels = tf.cond(
        one_hot,
        lambda: tf.argmax(tf.reshape(y_true, [-1, c]), -1, output_type=tf.int32),
        lambda: tf.reshape(tf.cast(y_true, tf.int32), [-1]))
    return labels, tf.argmax(scores, -1, output_type=tf.int32)


def _histograms(scores, row, within_unit_interval, spec):
    """`(positives, negatives)`: each class's score bins over the samples of that class,
    and over the other samples with a label in `[0, C)`."""
    import tensorflow as tf
    c, bins = spec.num_classes, spec.bins
    stride = bins + 1
    size = c * stride
    if scores.shape[-1] == 1:
        # Binary: class 0's score is `1 - score`.
        scores = tf.concat([1. - scores, scores], axis=1)

    def binned(values, offsets):
        """`offsets + floor(score * bins)` as int32 (`offsets`: float32 integers),
        each score clipped into [0, 1] first."""
        product = values * tf.cast(bins, values.dtype)
        if not within_unit_interval:
            # As the numpy fold's clip of the scores: the float32 product is monotonic,
            # so clipping it into [0, bins] gives the same bin.
            product = _clip(product, 0, bins)
        # 2 ** 23 plus an integer below it is exact in float32, and its bits are 2 ** 23's
        # plus that integer: the bin without TensorFlow's Cast to int32, the slowest
        # op here (docs/benchmarks.md). A NaN score lands far above `size`: left out.
        shifted = tf.cast(tf.floor(product), tf.float32) + (offsets + 2. ** 23)
        return tf.bitcast(shifted, tf.int32) - _TWO_TO_23_BITS

    class_offsets = tf.constant([[k * stride for k in range(c)]], tf.float32)

    def class_bins(rows):
        """Each score's bin at its class's offset, `class * stride + bin`."""
        return tf.reshape(binned(rows, class_offsets), [-1])

    index = class_bins(scores)
    # Each sample's own class: its label where in [0, C), else dropped (a bincount
    # leaves out values >= size).
    own_class = _clip(row, 0, c - 1)
    valid = tf.equal(own_class, row)
    own = tf.gather(index, tf.range(tf.size(row)) * c + own_class)
    own = tf.where(valid, own, tf.fill(tf.shape(own), size))
    # Samples with a label outside [0, C) leave the count over every sample (usually
    # there are none, and then this costs a few empty ops).
    ignored = tf.gather(scores, tf.reshape(tf.where(tf.logical_not(valid)), [-1]))
    every_sample = _bincount(index, size) - _bincount(class_bins(ignored), size)
    positives = _bincount(own, size)
    return positives, every_sample - positives


def _clip(tensor, low, high):
    """One pass (`tf.clip_by_value` takes two in TensorFlow 1.15)."""
    import tensorflow as tf
    return raw_op('ClipByValue', '_clip_by_value')(
        t=tensor, clip_value_min=tf.constant(low, tensor.dtype),
        clip_value_max=tf.constant(high, tensor.dtype))


def _bincount(values, size):
    """Counts of `values` in `[0, size)` (larger ones are left out). The op itself:
    `tf.math.bincount` first reads every value once more for their maximum."""
    import tensorflow as tf
    return raw_op('Bincount', 'bincount')(arr=values, size=size,
                                          weights=tf.zeros([0], tf.int32))


def _within_unit_interval(y_pred):
    """Whether `y_pred` is a softmax or sigmoid, whose scores need no clipping."""
    op = y_pred.op
    while op.type in ('Identity', 'Reshape'):
        op = op.inputs[0].op
    if op.type in ('Softmax', 'Sigmoid'):
        return True
    # Keras' softmax over an axis of a tensor of rank > 2: exp(x - max) / sum(exp(...)),
    # each value divided by a sum that includes it.
    if op.type == 'RealDiv':
        exp, total = (t.op for t in op.inputs)
        return (exp.type == 'Exp' and total.type == 'Sum' and
                total.inputs[0].name == exp.outputs[0].name and
                bool(total.get_attr('keep_dims')))
    return False


class GraphCountingFetches(BatchFetches):
    """A `BatchFetches` whose extra fetches are each batch's counts (see the module doc)."""

    def __init__(self, model, stock_function, selection, family):
        super(GraphCountingFetches, self).__init__(model, stock_function, selection, family)
        self._num_classes = selection.reduce.num_classes
        self.counted = []
        tensors = []
        with family.session().graph.as_default():
            for name, output, target in zip(self.output_names, self.output_tensors,
                                            self.targets):
                if target is None:
                    continue
                self.counted.append(name)
                tensors.extend(count_tensors(target.tensor, output, selection.reduce))
        self._counting = family.function_like(stock_function, tensors, '_getpredict_counts')

    def _failed_check(self, tag, value):
        """The `ConfigurationError` of a check op that failed on the graph."""
        if tag == 'units':
            return ConfigurationError(units_mismatch(self._num_classes, value))
        return ConfigurationError(TARGETS_MISMATCH)

    def run_into(self, recorder, ins):
        outs = run_checked(self._counting, ins, CHECK_MARK, self._failed_check)
        n_stock = len(self._stock.outputs)
        counts = outs[n_stock:]
        recorder.add_counted(self, dict(
            (name, counts[3 * i:3 * i + 3]) for i, name in enumerate(self.counted)))
        return outs[:n_stock]
