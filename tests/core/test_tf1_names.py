"""TensorFlow's 1.x names through `families.tf_v1()` and `families.raw_op()`: the code that
builds graph ops runs on a TensorFlow without `tf.compat.v1` and `tf.raw_ops`, as 1.12 is
(its 1.x names are at the top level), and computes the same there."""
import types

import numpy as np
import pytest
import tensorflow as tf
from support.stack import Dense, Sequential

from keras_getpredict import BatchPredictions
from keras_getpredict.core import families, graph_reduce
from keras_getpredict.core.reduce_spec import ReduceSpec

LOGITS = np.float32([[2., 0., -1.], [0., 3., 1.], [1., 1., 4.], [5., 0., 0.], [0., 0., 0.]])
LABELS = np.eye(3, dtype=np.float32)[[0, 1, 1, 2, 0]]


def counts():
    """One batch's counts from `graph_reduce.count_tensors`, in a graph of their own."""
    v1 = families.tf_v1()
    graph = tf.Graph()
    with graph.as_default():
        logits = v1.placeholder(tf.float32, [None, 3])
        y_true = v1.placeholder(tf.float32, [None, 3])
        tensors = graph_reduce.count_tensors(y_true, tf.nn.softmax(logits),
                                             ReduceSpec(3, 4, 0.5))
        with v1.Session(graph=graph) as session:
            return session.run(list(tensors), {logits: LOGITS, y_true: LABELS})


@pytest.fixture
def as_tensorflow_1_12(monkeypatch):
    """This TensorFlow without `tf.compat.v1` and `tf.raw_ops`, as 1.12 is."""
    monkeypatch.setattr(tf, 'compat', types.ModuleType('tensorflow.compat'))
    monkeypatch.setattr(tf, 'raw_ops', None, raising=False)  # none before TF 1.14
    assert families.tf_v1() is tf


@pytest.mark.skipif(not hasattr(tf.compat, 'v1'), reason='TensorFlow %s has no tf.compat.v1'
                    % tf.__version__)
def test_tf_v1_is_tf_compat_v1_where_it_exists():
    assert families.tf_v1() is tf.compat.v1


@pytest.mark.skipif(hasattr(tf.compat, 'v1'), reason='TensorFlow %s has tf.compat.v1'
                    % tf.__version__)
def test_tf_v1_is_the_top_level_on_a_real_tensorflow_without_compat_v1():
    assert families.tf_v1() is tf
    assert families.tf_v1().Session is tf.Session


def test_the_graph_fold_is_the_same_without_compat_v1_and_raw_ops(request):
    expected = counts()
    assert expected[0].sum() == len(LABELS)  # the confusion table counts every sample
    request.getfixturevalue('as_tensorflow_1_12')
    for mine, theirs in zip(counts(), expected):
        np.testing.assert_array_equal(mine, theirs)


def test_batch_predictions_records_every_batch_without_compat_v1(as_tensorflow_1_12):
    # Its variables, assigns and collection go through `tf_v1()`.
    model = Sequential([Dense(3, input_shape=(3,))])
    model.compile('sgd', 'mse')
    batches = BatchPredictions()
    model.fit(LOGITS, LABELS, batch_size=2, shuffle=False, verbose=0, callbacks=[batches])
    np.testing.assert_array_equal(np.concatenate(batches.y_true), LABELS)
    assert len(batches.y_pred) == 3
