"""`write_npz_atomic`: an `.npz` file is either the old one or the complete new one.

Kept free of Keras imports so any process (a data pipeline, a test's child process)
can use it cheaply.
"""
from __future__ import absolute_import

import os
import tempfile

import numpy as np

_TEMP_PREFIX = '.keras-getpredict-'


def write_npz_atomic(path, arrays, compressed=True):
    """Writes `arrays` to `path` so that `path` is either the old file or the
    complete new one, never a partial file.

    The arrays go to a temporary file in the same directory, which is flushed,
    synced and then renamed over `path` with `os.replace` (atomic on POSIX and
    Windows). On any error the temporary file is removed and `path` is untouched.

    # Arguments
        path: the `.npz` file to write.
        arrays: dict of name to array; object arrays are refused.
        compressed: use `np.savez_compressed`.

    # Raises
        TypeError: In case an array has dtype object (it could not be read back
            with `allow_pickle=False`).
    """
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError("Array '%s' has dtype object; it could not be loaded with "
                            '`allow_pickle=False`. Pass numeric or string arrays.' % name)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory)
    handle, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix='.npz.tmp', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    _sync_directory(directory)
    return path


def _sync_directory(directory):
    # Makes the rename itself durable; not possible everywhere (Windows).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
