"""Our own state kept on Keras objects (a model, a backend function), in one place.

Each entry sits in the object's `__dict__` under `_keras_getpredict_<name>`: it goes
with the object (a recompiled model has new functions, so new entries), it never
shadows an attribute of Keras, and a class attribute of the same name is never read.
"""
from __future__ import absolute_import

PREFIX = '_keras_getpredict_'


def attached(obj, name, default=None):
    """The entry `name` on `obj`, or `default`."""
    return vars(obj).get(PREFIX + name, default)


def attached_or_new(obj, name, factory):
    """The entry `name` on `obj`, made by `factory()` the first time."""
    entries = vars(obj)
    if PREFIX + name not in entries:
        entries[PREFIX + name] = factory()
    return entries[PREFIX + name]


def attach(obj, name, value):
    """Sets the entry `name` on `obj`."""
    vars(obj)[PREFIX + name] = value


def detach(obj, name):
    """Removes the entry `name` from `obj` and returns it (`None` when absent)."""
    entries = getattr(obj, '__dict__', None)
    return None if entries is None else entries.pop(PREFIX + name, None)
