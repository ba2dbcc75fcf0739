"""Reducing mode on the graph (`get_predict['reduce']['on_graph']`): the counts of
each batch are computed by TensorFlow ops in the same session run as the loss, so only
`C*C + 1 + 2*C*(bins + 1)` int32 counts per output are fetched instead of the
outputs, and the host adds them up (`StreamingRecorder.add_counted`).

The ops follow `core/streaming.py`'s numpy fold step by step (same float32 product
`score * bins` truncated to an int, the same tie rule for the argmax: the first
maximum), so both give the same counts; tests compare them.

The class axis is read from TensorFlow's static shape, else from Keras' (`Reshape((h * w,
-1))` leaves TensorFlow's unknown while Keras knows it), else taken to be `num_classes`;
an op checks it against the output's actual shape, so a `num_classes` that does not fit
is a `ConfigurationError` at the first batch.
"""
from __future__ import absolute_import

from . import keras_internals
from .capture import CapturePlan
from .failures import ConfigurationError
from .streaming import class_units, units_mismatch

# Starts the message of every check op here, so a failed check is told from other errors.
CHECK_MARK = 'keras-getpredict reducing mode check: '
TARGETS_MISMATCH = ('Reducing mode cannot match the targets to the outputs: targets should '
                    'be one-hot (the shape of the output) or integer class ids (its shape '
                    'without the class axis, or with a last axis of 1).')


def count_tensors(y_true, y_pred, spec):
    """`(confusion, everyone, own)` int32 tensors of one batch of one output.

    `confusion` has `C*C + 1` entries (`[true * C + predicted]`, then the number of
    samples whose label is outside `[0, C)`); `everyone`/`own` have `C*(bins + 1)`
    entries (see `streaming.add_histograms`), or one when `bins` is 0.

    # Raises
        ConfigurationError: In case the output's class axis does not fit
            `num_classes` (on the graph when only the actual shape tells).
    """
    import tensorflow as tf
    c, bins = spec.num_classes, spec.bins
    units = class_units(y_pred, c)
    fits = tf.compat.v1.debugging.assert_equal(tf.shape(y_pred)[-1], units,
                                               message=CHECK_MARK + 'units')
    with tf.control_dependencies([fits]):
        scores = tf.reshape(y_pred, [-1, units])
    if units == 1:
        labels = tf.cast(tf.reshape(y_true, [-1]) >= 0.5, tf.int32)
        predicted = tf.cast(scores[:, 0] >= spec.threshold, tf.int32)
        scores = tf.concat([1. - scores, scores], axis=1)
    else:
        one_hot = tf.logical_and(tf.equal(tf.rank(y_true), tf.rank(y_pred)),
                                 tf.equal(tf.shape(y_true)[-1], c))
        labels = tf.cond(one_hot,
                         lambda: tf.reshape(tf.argmax(y_true, -1, output_type=tf.int32), [-1]),
                         lambda: tf.reshape(tf.cast(y_true, tf.int32), [-1]))
        predicted = tf.argmax(scores, -1, output_type=tf.int32)
    check = tf.compat.v1.debugging.assert_equal(tf.size(labels), tf.shape(scores)[0],
                                                message=CHECK_MARK + 'targets')
    with tf.control_dependencies([check]):
        valid = tf.logical_and(labels >= 0, labels < c)
    trash = c * c
    where = tf.compat.v2.where  # TensorFlow 2's: no deprecation warning in 1.15
    confusion = tf.math.bincount(where(valid, labels * c + predicted,
                                       tf.fill(tf.shape(labels), trash)),
                                 minlength=trash + 1, maxlength=trash + 1)
    if not bins:
        empty = tf.zeros([1], tf.int32)
        return confusion, empty, empty
    stride = bins + 1
    scores = tf.clip_by_value(scores, 0., 1.)
    index = tf.cast(scores * tf.cast(bins, scores.dtype), tf.int32) + \
        tf.range(c, dtype=tf.int32)[None, :] * stride
    size = c * stride
    # Samples with an ignored label go to one more bin, dropped below.
    index = where(tf.tile(valid[:, None], [1, c]), index, tf.fill(tf.shape(index), size))
    everyone = tf.math.bincount(tf.reshape(index, [-1]), minlength=size + 1,
                                maxlength=size + 1)[:size]
    safe_labels = where(valid, labels, tf.zeros_like(labels))
    own_index = tf.gather_nd(index, tf.stack(
        [tf.range(tf.size(labels), dtype=tf.int32), safe_labels], axis=1))
    own = tf.math.bincount(own_index, minlength=size + 1, maxlength=size + 1)[:size]
    return confusion, everyone, own


class GraphCountingPlan(CapturePlan):
    """A `CapturePlan` whose extra fetches are each batch's counts (see the module doc)."""

    def __init__(self, model, stock_function, selection):
        super(GraphCountingPlan, self).__init__(model, stock_function, selection)
        from keras import backend as K
        self._num_classes = selection.reduce.num_classes
        self.counted = []
        tensors = []
        with K.get_session().graph.as_default():
            for name, output, target in zip(self.output_names, self.output_tensors,
                                            self.targets):
                if target is None:
                    continue
                self.counted.append(name)
                tensors.extend(count_tensors(target.tensor, output, selection.reduce))
        self._counting = keras_internals.function_like(stock_function, tensors,
                                                       '_getpredict_counts')

    def _failed_check(self, tag, value):
        """The `ConfigurationError` of a check op that failed on the graph."""
        if tag == 'units':
            return ConfigurationError(units_mismatch(self._num_classes, value))
        return ConfigurationError(TARGETS_MISMATCH)

    def run_into(self, recorder, ins):
        outs = keras_internals.run_checked(self._counting, ins, CHECK_MARK, self._failed_check)
        n_stock = len(self._stock.outputs)
        counts = outs[n_stock:]
        recorder.add_counted(self, dict(
            (name, counts[3 * i:3 * i + 3]) for i, name in enumerate(self.counted)))
        return outs[:n_stock]
