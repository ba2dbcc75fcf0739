"""`keras_getpredict.capturing(...)`: capture for `fit*`/`evaluate*` calls the user does
not write (a library's `train()`), without editing that code."""
from __future__ import absolute_import

import contextlib

from ..core.failures import ConfigurationTypeError
from .install import install, is_native


def _core():
    """The core modules the active form's hook points read: the fork's own copies
    (`keras.getpredict`) or this package's (`keras_getpredict.core`)."""
    if is_native():
        from keras.getpredict import plan, requests
    else:
        from ..core import plan, requests
    return plan, requests


def _check_callbacks(callbacks):
    if callbacks is None:
        return ()
    if not isinstance(callbacks, (list, tuple)):
        raise ConfigurationTypeError(
            '`callbacks` should be a list of Keras callbacks; got %r of type %s.'
            % (callbacks, type(callbacks).__name__))
    for callback in callbacks:
        if not callable(getattr(callback, 'set_model', None)):
            raise ConfigurationTypeError(
                '`callbacks` should hold Keras callbacks (instances of '
                '`keras.callbacks.Callback`); got %r of type %s.'
                % (callback, type(callback).__name__))
    return tuple(callbacks)


@contextlib.contextmanager
def capturing(get_predict=None, callbacks=None):
    """Context manager: a `get_predict` default and extra callbacks for every `fit`,
    `fit_generator`, `evaluate` and `evaluate_generator` call made inside the block.

    For code that calls those methods where you cannot pass arguments: a library's
    `train()` that takes no callbacks (PyPI `mrcnn==0.2`'s `MaskRCNN.train`,
    `keras_segmentation`'s `train`). The callbacks join each `fit`/`fit_generator`
    call after its own, and ask for the capture they need themselves
    (`EpochMetrics`, `MaskRCNNHeadMetrics`, `ReduceMetrics`, ...), so
    `callbacks=` alone is usually enough. `get_predict` applies to `evaluate*` as
    well: they then return `(metrics, gts_and_preds)`, so give it only where the code
    inside does not read what `evaluate*` returns.

    A call's own `get_predict` and the requests of its callbacks are merged with the
    block's by the same rules (the union of outputs, inputs and layers; one capture
    mode per call). Only a thread's outermost call takes the block: the calls Keras
    makes itself (validation inside `fit_generator`) and calls made from callbacks
    during training stay as they are. Blocks are thread-local, nest (an inner block
    adds to the outer one) and are closed on exit, also on an exception. Entering
    one installs keras-getpredict if it is not installed yet (`install()`).

    # Arguments
        get_predict: a `get_predict` value (see `fit_generator`), or `None` to add
            callbacks only.
        callbacks: a list of Keras callbacks added to every `fit`/`fit_generator`
            call in the block.

    # Returns
        A context manager.

    # Raises
        TypeError: In case `get_predict` is none of the accepted forms, or
            `callbacks` is not a list of Keras callbacks.
        ValueError: In case `get_predict` is malformed, or the requests of the
            block, its callbacks and the blocks around it cannot be merged (full
            capture against the reducing mode, two different reducing specs).

    # Example
    ```python
    import keras_getpredict
    from keras_getpredict.mask_rcnn import MaskRCNNHeadMetrics

    with keras_getpredict.capturing(
            callbacks=[MaskRCNNHeadMetrics(class_names=dataset_val.class_names)]):
        model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE,
                    epochs=40, layers='heads')   # mrcnn/model.py unedited
    ```
    """
    callbacks = _check_callbacks(callbacks)
    install()
    plan, requests = _core()
    block = requests.Block(get_predict, callbacks)
    # Checked now, not at the first call inside: names need a model, but the forms
    # and whether the requests merge do not.
    plan.check_block(block)
    with requests.opened(block):
        yield block
