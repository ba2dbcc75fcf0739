"""Where a `fit*`/`evaluate*` call came from, for messages that say where to act.

A user whose library calls `fit_generator` (keras-retinanet's `train.py`, Mask R-CNN's
`MaskRCNN.train`) never wrote that call; an error about its arguments names the first
frame outside Keras and keras-getpredict, which is where it was made.
"""
from __future__ import absolute_import

import inspect
import os

# This package's directory: keras_getpredict/ (run-time patch) or keras/ (the fork
# vendors these modules as keras/getpredict/, inside Keras itself).
_OURS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _inside(filename, directories):
    filename = os.path.abspath(filename)
    return any(filename.startswith(d + os.sep) for d in directories)


def outside_keras():
    """`(filename, line)` of the innermost caller outside Keras (standalone Keras and
    tf.keras, whichever are imported) and keras-getpredict, or `None` when every frame
    is inside them."""
    from .families import keras_directories
    directories = [_OURS] + keras_directories()
    frame = inspect.currentframe()
    try:
        while frame is not None:
            filename = frame.f_code.co_filename
            if not filename.startswith('<') and not _inside(filename, directories):
                return filename, frame.f_lineno
            frame = frame.f_back
        return None
    finally:
        del frame
