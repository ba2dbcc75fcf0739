"""Frozen one-layer models whose outputs are computed by hand: a `Dense` layer without
bias whose kernel the test gives, compiled with `SGD(lr=0)` so `fit` leaves it as it is.
"""
import numpy as np
from .stack import Dense, Input, Model, SGD, Sequential


def frozen_dense(kernel, activation=None, loss='mse', name='dense', input_name=None,
                 sparse=False, sequential=False, names=None):
    """A model computing `activation(x @ kernel)`, that training does not change.

    # Arguments
        kernel: `(features, units)`, the layer's weights.
        activation: the layer's activation (`'softmax'`, ...).
        loss: what it is compiled with.
        name: the layer's name.
        input_name: the input's name (Keras' default when `None`).
        sparse: a sparse input.
        sequential: a `Sequential` rather than a functional `Model`.
        names: several outputs, one such layer each, by these names (instead of
            `name`).
    """
    kernel = np.asarray(kernel, 'float32')
    features, units = kernel.shape

    def layer(layer_name):
        return Dense(units, use_bias=False, activation=activation, name=layer_name,
                     kernel_initializer=lambda shape, dtype=None: kernel)

    if sequential:
        model = Sequential([Dense(units, use_bias=False, activation=activation, name=name,
                                  input_shape=(features,),
                                  kernel_initializer=lambda shape, dtype=None: kernel)])
    else:
        x = Input((features,), name=input_name, sparse=sparse)
        model = Model(x, [layer(n)(x) for n in names or [name]])
    model.compile(SGD(lr=0.0), loss)
    return model
