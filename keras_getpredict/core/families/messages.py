"""What the families say when the imported libraries lack something they rely on."""
from __future__ import absolute_import


def missing_message(missing):
    """The message of a missing private attribute (`missing`: their names)."""
    return ('keras_getpredict relies on private attributes that the imported '
            'libraries do not have: %s. This Keras/TensorFlow/Horovod is not one '
            'keras_getpredict supports.' % ', '.join(missing))
