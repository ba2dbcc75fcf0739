"""A library that owns its training loop, as matterport's `MaskRCNN.train` and
`keras_segmentation`'s `train` do: it builds its own callbacks and calls `fit_generator`
itself. The tests use it as it is, never edited, to show that capture is switched on
from the outside (a callback passed in, or a `keras_getpredict.capturing` block).
"""
from support.stack import keras

from support.handmade import batches

#: Epochs seen by the library's own callback, so tests can tell it still runs.
LIBRARY_EPOCHS = []


def _own_callbacks():
    return [keras.callbacks.TerminateOnNaN(),
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: LIBRARY_EPOCHS.append(epoch))]


def train(model, x, y, x_val, y_val, epochs=2, custom_callbacks=None, batch_size=4,
          validate=True):
    """Like the 2019 upstream `MaskRCNN.train`: takes `custom_callbacks`."""
    steps = -(-len(x) // batch_size)
    val_steps = -(-len(x_val) // batch_size)
    return model.fit_generator(
        batches(x, y, batch_size), steps_per_epoch=steps, epochs=epochs,
        callbacks=_own_callbacks() + list(custom_callbacks or []),
        validation_data=batches(x_val, y_val, batch_size) if validate else None,
        validation_steps=val_steps, verbose=0, workers=0)


def train_without_callbacks(model, x, y, x_val, y_val, epochs=2, batch_size=4):
    """Like PyPI `mrcnn==0.2`'s `MaskRCNN.train`: no way to pass a callback in."""
    return train(model, x, y, x_val, y_val, epochs=epochs, batch_size=batch_size)
