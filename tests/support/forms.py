"""The core modules of the form under test: keras_getpredict's own with the run-time patch,
the copies vendored into Keras (`keras.getpredict`) on the fork."""
import importlib

import keras_getpredict


def active_core(name):
    """Module `name` of the core the active form runs (e.g. `'modes'`), for a test that
    patches it."""
    package = 'keras.getpredict.' if keras_getpredict.is_native() else 'keras_getpredict.core.'
    return importlib.import_module(package + name)
