"""The graph fold (`core/graph_reduce.py`) counts exactly what the numpy fold
(`core/reduce_counts.py`) counts, on random batches drawn to hit its edges: scores on bin
edges, 0 and 1, outside [0, 1] (clipped) and tied across classes; labels one-hot, soft,
all-zero, integer with or without a class axis, below 0 and at or above `C` (ignored);
binary outputs with one unit; softmax outputs (whose scores are not clipped: TensorFlow's
op and Keras' own `exp / sum` for tensors of rank > 2) as well as raw scores.
"""
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from support.stack import Activation, Conv2D, Input, Model, Reshape

from keras_getpredict.core import families, graph_reduce
from keras_getpredict.core.reduce_counts import OutputCounts, ReduceSpec, add_histograms, \
    add_table, fold

SETTINGS = settings(max_examples=60, deadline=None, database=None)
FIELDS = ('confusion', 'positives', 'negatives', 'ignored')
# One graph and session per (output kind, label kind, classes, bins, threshold): the
# examples feed them.
_GRAPHS = {}
BINARY = ('sigmoid', 'raw_binary')


def _output(kind, logits):
    if kind == 'softmax':
        return tf.nn.softmax(logits)
    if kind == 'keras_softmax':  # keras.activations.softmax for rank > 2
        e = tf.exp(logits - tf.reduce_max(logits, axis=-1, keepdims=True))
        return e / tf.reduce_sum(e, axis=-1, keepdims=True)
    if kind == 'sigmoid':
        return tf.sigmoid(logits)
    return tf.identity(logits)  # raw scores (clipped into [0, 1] by both folds)


def _graph(output, labels, c, bins, threshold):
    key = (output, labels, c, bins, threshold)
    if key not in _GRAPHS:
        graph = tf.Graph()
        with graph.as_default():
            units = 1 if output in BINARY else c
            logits = families.tf_v1().placeholder(tf.float32, [None, None, units])
            label_shape = {'one_hot': [None, None, units], 'ids': [None, None],
                           'ids_axis': [None, None, 1]}[labels]
            y_true = families.tf_v1().placeholder(tf.float32, label_shape)
            y_pred = _output(output, logits)
            spec = ReduceSpec(2 if units == 1 else c, bins, threshold)
            counts = graph_reduce.count_tensors(y_true, y_pred, spec)
        _GRAPHS[key] = (families.tf_v1().Session(graph=graph), logits, y_true, y_pred, counts,
                        spec)
    return _GRAPHS[key]


def _scores(rng, shape, bins):
    """Scores on bin edges (k / bins in float32), at 0 and 1, outside [0, 1], and at
    random; few distinct values, so classes tie."""
    edges = np.arange(bins + 1, dtype=np.float32) / np.float32(max(bins, 1))
    pool = np.concatenate([edges, np.float32([0., 1., -0.25, 1.5, 1e-8, 1 - 1e-7]),
                           rng.rand(5).astype(np.float32)])
    return rng.choice(pool, shape).astype(np.float32)


@st.composite
def batches(draw):
    output = draw(st.sampled_from(['raw', 'softmax', 'keras_softmax'] + list(BINARY)))
    c = 2 if output in BINARY else draw(st.integers(2, 5))
    bins = draw(st.sampled_from([0, 1, 3, 7, 200]))
    threshold = draw(st.sampled_from([0.5, 0.3])) if output in BINARY else 0.5
    labels = draw(st.sampled_from(['one_hot', 'ids', 'ids_axis']))
    n, h = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    rng = np.random.RandomState(draw(st.integers(0, 2 ** 31 - 1)))
    units = 1 if output in BINARY else c
    if output.startswith('raw'):
        logits = _scores(rng, (n, h, units), bins)
    else:
        logits = rng.randint(-2, 3, (n, h, units)).astype(np.float32)
    ids = rng.randint(-2, c + 2, (n, h))  # -2, -1, C, C + 1: ignored
    if units == 1:
        y = rng.choice(np.float32([0., 1., 0.25, 0.5, 0.75]), (n, h))
        y = y[..., None] if labels != 'ids' else y
        labels = 'one_hot' if labels != 'ids' else labels
    elif labels == 'one_hot':
        kind = draw(st.sampled_from(['exact', 'soft']))
        if kind == 'exact':  # ignored ids: all-zero rows (class 0 for both folds)
            y = np.zeros((n, h, c), np.float32)
            inside = (ids >= 0) & (ids < c)
            y[inside, ids[inside]] = 1.
        else:
            y = rng.randint(0, 3, (n, h, c)).astype(np.float32) / 2.
    else:
        y = ids.astype(np.float32)
        y = y[..., None] if labels == 'ids_axis' else y
    return output, labels, c, bins, threshold, logits, y


@SETTINGS
@given(batches())
def test_graph_counts_equal_the_numpy_fold(batch):
    output, labels, c, bins, threshold, logits, y = batch
    session, logits_in, y_in, y_pred, counts, spec = _graph(output, labels, c, bins,
                                                            threshold)
    table, positives, negatives, scores = session.run(list(counts) + [y_pred],
                                                      {logits_in: logits, y_in: y})
    on_graph = OutputCounts(spec.num_classes, bins)
    add_table(on_graph, table)
    if bins:
        add_histograms(on_graph, positives, negatives)
    in_numpy = OutputCounts(spec.num_classes, bins)
    fold(in_numpy, spec, y, scores)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(on_graph, field), getattr(in_numpy, field),
                                      err_msg=field)


def _keras_segmenter(activation):
    image = Input((4, 4, 3))
    scores = Activation(activation, name='seg')(Reshape((16, -1))(Conv2D(3, 1)(image)))
    model = Model(image, scores)
    model.compile('sgd', 'categorical_crossentropy')
    return model


@pytest.mark.parametrize('activation,clipped', [('softmax', False), ('sigmoid', False),
                                                ('linear', True)])
def test_only_scores_that_may_leave_0_1_are_clipped(activation, clipped):
    # The clip is a pass over every score: a softmax or sigmoid output (here behind
    # keras_segmentation's Reshape((h * w, -1)), whose class axis TensorFlow does not
    # know) needs none.
    model = _keras_segmenter(activation)
    graph = model.output.graph
    with graph.as_default():
        graph_reduce.count_tensors(families.family_of(model).model_targets(model)[0], model.output,
                                   ReduceSpec(3, 10))
    clips = [op for op in graph.get_operations()
             if op.type in ('ClipByValue', 'Minimum', 'Maximum') and
             op.name.startswith('getpredict_counts') and op.outputs[0].dtype == tf.float32]
    assert bool(clips) is clipped
