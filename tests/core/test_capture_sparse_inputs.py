"""Capturing an input fed as a scipy sparse matrix (`Input(sparse=True)`).

K.function cannot fetch a sparse placeholder ("Can not convert a SparseTensor into a
Tensor or Operation"), so the fed matrix itself is kept. Found by Keras' own
`test_sparse_placeholder_fit` with get_predict forced on for every input.
"""
import numpy as np
from support.stack import keras
import keras_getpredict
from support.models import frozen_dense
import pytest
from scipy import sparse

X = sparse.csr_matrix(np.array([[1., 0., 2.], [0., 0., 3.], [4., 0., 0.],
                                [0., 5., 0.], [0., 0., 0.]], dtype='float32'))
Y = np.zeros((5, 2), dtype='float32')


def _model():
    # y_pred = row sums of the sparse input in both units; lr=0 keeps it so.
    return frozen_dense(np.ones((3, 2)), input_name='sparse_in', sparse=True)


@pytest.fixture(autouse=True)
def stock_feeds_sparse():
    """Skips where stock Keras itself cannot feed a scipy matrix to a sparse `Input`
    (Keras 2.3.1 on TensorFlow 1.15: tf.keras' backend function flattens the sparse
    placeholder into three and `np.asarray`s the matrix, "setting an array element
    with a sequence"). Judged by running stock `evaluate`, before anything is patched."""
    was_installed = keras_getpredict.is_installed()
    keras_getpredict.uninstall()
    try:
        _model().evaluate(X, Y, batch_size=2, verbose=0)
    except ValueError as error:
        pytest.skip('stock Keras %s cannot feed a sparse input: %s'
                    % (keras.__version__, error))
    finally:
        if was_installed:
            keras_getpredict.install()
    keras.backend.clear_session()


def _check(preds, batch_rows):
    dense = X.toarray()
    assert len(preds['inputs']['sparse_in']) == len(batch_rows)
    for rows, fed, y_pred in zip(batch_rows, preds['inputs']['sparse_in'], preds['y_pred']):
        assert sparse.issparse(fed)
        np.testing.assert_array_equal(fed.toarray(), dense[rows])
        np.testing.assert_allclose(y_pred, np.repeat(dense[rows].sum(1, keepdims=True), 2, 1))


def test_evaluate_keeps_the_fed_sparse_input(installed):
    model = _model()
    metrics, preds = model.evaluate(X, Y, batch_size=2, verbose=0,
                                    get_predict={'outputs': True, 'inputs': ['sparse_in']})
    _check(preds, [slice(0, 2), slice(2, 4), slice(4, 5)])
    expected = np.mean(np.repeat(X.toarray().sum(1, keepdims=True), 2, 1) ** 2)
    np.testing.assert_allclose(metrics, expected, rtol=1e-6)


def test_fit_with_validation_split_keeps_the_fed_sparse_input(installed):
    model = _model()
    history = model.fit(X, Y, epochs=1, batch_size=2, verbose=0, validation_split=0.4,
                        get_predict={'outputs': True, 'inputs': ['sparse_in']})
    # validation_split=0.4 of 5 samples holds out the last 2 as one batch.
    _check(history.val_gts_and_preds, [slice(3, 5)])


def test_concat_batches_stacks_sparse_input_batches(installed):
    model = _model()
    _, preds = model.evaluate(X, Y, batch_size=2, verbose=0,
                              get_predict={'outputs': True, 'inputs': ['sparse_in']})
    flat = keras_getpredict.concat_batches(preds)
    assert sparse.issparse(flat['inputs']['sparse_in'])
    np.testing.assert_array_equal(flat['inputs']['sparse_in'].toarray(), X.toarray())
    np.testing.assert_allclose(flat['y_pred'][:, 0], X.toarray().sum(1))
