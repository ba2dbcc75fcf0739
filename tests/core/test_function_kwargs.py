"""What `compile(**kwargs)` gives the backend functions still happens with `get_predict`:
the user's `fetches` run once per validation batch, and the callbacks tf.keras' backend
function (Keras 2.3) keeps per fetch (`fetch_callbacks`) still receive their values."""
import numpy as np
import pytest
from support.stack import K, Dense, Input, Model, SGD

from keras_getpredict.core import families

X = np.arange(15, dtype='float32').reshape(5, 3)
Y = np.zeros((5, 1), dtype='float32')


def _model_with_counting_fetch():
    x = Input((3,), name='x')
    model = Model(x, Dense(1, kernel_initializer='ones', use_bias=False, name='y')(x))
    counter = K.variable(0., name='fetch_counter')
    model.compile(SGD(lr=0.), 'mse', fetches=[families.tf_v1().assign_add(counter, 1.)])
    return model, counter


def test_user_fetches_run_once_per_validation_batch(installed):
    model, counter = _model_with_counting_fetch()
    _, preds = model.evaluate(X, Y, batch_size=2, verbose=0, get_predict=True)
    assert len(preds['y_pred']) == 3
    assert K.get_value(counter) == 3


def test_fetch_callbacks_receive_the_values_of_their_fetch(installed):
    model, counter = _model_with_counting_fetch()
    model._make_test_function()
    function = model.test_function
    if not hasattr(function, 'fetch_callbacks'):
        pytest.skip("this Keras' backend function keeps no callbacks per fetch")
    seen = []
    function.fetch_callbacks[function.fetches[0]] = seen.append
    stock = model.evaluate(X, Y, batch_size=2, verbose=0)
    assert seen == [1., 2., 3.]
    metrics, preds = model.evaluate(X, Y, batch_size=2, verbose=0, get_predict=True)
    assert seen == [1., 2., 3., 4., 5., 6.]
    assert metrics == pytest.approx(stock)
    np.testing.assert_allclose(np.concatenate(preds['y_pred'])[:, 0], X.sum(1))
