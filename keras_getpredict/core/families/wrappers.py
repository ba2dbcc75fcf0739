"""Keras' own code told apart from wrappers someone put in its place."""
from __future__ import absolute_import

import sys


def keras_directories():
    """The directories of the imported Keras stacks' code (standalone `keras/`,
    `tensorflow/python/keras/`), to tell Keras' own frames and functions apart."""
    import os
    directories = []
    for name in ('keras', 'tensorflow.python.keras'):
        path = getattr(sys.modules.get(name), '__file__', None)
        if path:
            directories.append(os.path.dirname(os.path.abspath(path)))
    return directories


def foreign_code(function):
    """`(name, where)` of `function` when it is not Keras' own function but a wrapper
    someone put in its place, else `None`.

    Keras' own is a plain function whose code lies in the Keras package. A wrapper is
    either a function whose code lies elsewhere (even one made with `functools.wraps`,
    which copies the name and module but not the code), or any other object: a class
    instance with `__call__`, or a proxy such as `wrapt.FunctionWrapper`, which forwards
    even `__code__` and `__class__` to what it wraps (so `type()`, not `isinstance`).
    """
    import inspect
    import os
    import types
    if function is None:
        return None  # missing altogether: the internals check names it
    if issubclass(type(function), types.FunctionType):
        code = function.__code__
        filename = os.path.abspath(code.co_filename)
        if any(filename.startswith(d + os.sep) for d in keras_directories()):
            return None
        return code.co_name, '%s, line %d' % (code.co_filename, code.co_firstlineno)
    kind = type(function)
    name = getattr(kind, '__qualname__', kind.__name__) + ' object'
    if kind.__module__ != 'builtins':  # C types often leave their module unnamed
        name = '%s.%s' % (kind.__module__, name)
    try:
        where = '%s, line %d' % (inspect.getsourcefile(kind), inspect.getsourcelines(kind)[1])
    except (TypeError, OSError):  # a class without Python source (C, or built in a REPL)
        where = repr(function)
    return name, where


def foreign_wrappers(patched):
    """The methods among `patched` (`(owner, name)` pairs of what `install()` replaces)
    whose current object is not Keras' own but a wrapper someone put there, as
    `(owner, name, (wrapper name, where it is defined))`."""
    found = []
    for owner, name in patched:
        code = foreign_code(vars(owner).get(name))
        if code is not None:
            found.append((owner, name, code))
    return found
