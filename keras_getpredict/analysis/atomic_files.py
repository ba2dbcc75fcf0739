"""Files that are either the old version or the complete new one, never partial.

`write_atomic` is the one way this package writes a file it produces (prediction
`.npz` files, PNG plots). Kept free of Keras imports so any process (a data pipeline,
a test's child process) can use it cheaply.
"""
from __future__ import absolute_import

import os
import stat
import tempfile

import numpy as np

_TEMP_PREFIX = '.keras-getpredict-'


def write_atomic(path, write):
    """Writes a file so that `path` is either the old file or the complete new one.

    `write(f)` fills a temporary file (opened `'wb'`) in the same directory, which
    is then flushed, synced and renamed over `path` with `os.replace` (atomic on
    POSIX and Windows). On any error the temporary file is removed and `path` is
    untouched. The file gets the mode a plain `open(path, 'wb')` would give it:
    that of the file it replaces, or `0o666` less the umask for a new one.

    # Arguments
        path: the file to write; missing parent directories are created.
        write: function of one argument, the open binary file.

    # Returns
        `path`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory)
    suffix = '.tmp' + os.path.splitext(path)[1]
    handle, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=suffix, dir=directory)
    try:
        with os.fdopen(handle, 'wb') as f:
            # mkstemp creates the file 0600, readable by its owner only.
            os.chmod(temp, _mode_for(path))
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    _sync_directory(directory)
    return path


def write_npz_atomic(path, arrays, compressed=True):
    """Writes `arrays` to the `.npz` file `path` with `write_atomic`.

    # Arguments
        path: the `.npz` file to write.
        arrays: dict of name to array; object arrays are refused.
        compressed: use `np.savez_compressed`.

    # Returns
        `path`.

    # Raises
        TypeError: In case an array has dtype object (it could not be read back
            with `allow_pickle=False`).
    """
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError("Array '%s' has dtype object; it could not be loaded with "
                            '`allow_pickle=False`. Pass numeric or string arrays.' % name)
    # Looked up at call time, so a test can make it fail half-way.
    save = np.savez_compressed if compressed else np.savez
    return write_atomic(path, lambda f: save(f, **arrays))


def _mode_for(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def current_umask():
    """The process umask, read without changing it where the system allows."""
    try:
        # Linux 4.7+: no window in which another thread sees a changed umask.
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (IOError, OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
