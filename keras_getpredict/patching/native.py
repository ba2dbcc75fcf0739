"""Detects a Keras that has `get_predict` built in: the fork built from `patches/`.

There, `fit`, `fit_generator`, `evaluate` and `evaluate_generator` already take
`get_predict` and Keras' callbacks already step over the predictions entry, so
`install()` must not wrap them a second time.
"""
from __future__ import absolute_import


def native_version():
    """Returns the fork's version (e.g. `'2.2.4+getpredict.1'`), or `None` for stock Keras.

    # Returns
        The string `keras.getpredict.FORK_VERSION` of the forked Keras, or `None`
        when the imported Keras has no native `get_predict`.
    """
    try:
        from keras import getpredict
    except ImportError:
        return None
    return getattr(getpredict, 'FORK_VERSION', None)


def is_native():
    """Returns whether the imported Keras has `get_predict` built in (the fork)."""
    return native_version() is not None
