"""Files that are either the old version or the complete new one, never partial.

`write_atomic` is the one way this package writes a file it produces (prediction
`.npz` files, PNG plots). Kept free of Keras imports so any process (a data pipeline,
a test's child process) can use it cheaply.
"""
from __future__ import absolute_import

import errno
import os
import re
import socket
import stat
import tempfile

import numpy as np

_TEMP_PREFIX = '.keras-getpredict-'
# `.keras-getpredict-<host>-<pid>-<random>.tmp<ext>`: the owner is in the name, so a
# later writer can tell a temp file left by a killed process from one being written.
_TEMP_NAME = re.compile(r'^\.keras-getpredict-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]+\.tmp')
_swept = set()


def write_atomic(path, write):
    """Writes a file so that `path` is either the old file or the complete new one.

    `write(f)` fills a temporary file (opened `'wb'`) in the same directory, which
    is then flushed, synced and renamed over `path` with `os.replace` (atomic on
    POSIX and Windows). On any error the temporary file is removed and `path` is
    untouched. A process killed while writing leaves its temporary file behind;
    the first `write_atomic` of a process into a directory removes such files
    (see `remove_stale_temp_files`). The file gets the mode a plain `open(path, 'wb')`
    would give it:
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
    if directory not in _swept:
        remove_stale_temp_files(directory)
        _swept.add(directory)
    suffix = '.tmp' + os.path.splitext(path)[1]
    prefix = '%s%s-%d-' % (_TEMP_PREFIX, _host(), os.getpid())
    handle, temp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
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


def remove_stale_temp_files(directory):
    """Removes the temporary files of `write_atomic` calls whose process is gone.

    Only hidden files named by `write_atomic` on this host whose owner process no
    longer runs are removed; anything else (other hosts sharing the folder, live
    writers, other files) stays.

    # Returns
        The list of removed paths.
    """
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = _TEMP_NAME.match(name)
        if match and match.group('host') == _host() and \
                not _process_runs(int(match.group('pid'))):
            path = os.path.join(directory, name)
            try:
                os.remove(path)
                removed.append(path)
            except OSError:
                pass  # removed meanwhile by another writer, or not ours to remove
    return removed


def _host():
    return re.sub(r'[^A-Za-z0-9.]', '_', socket.gethostname()) or 'localhost'


def _process_runs(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError as e:
        # EPERM: it runs, as another user.
        return e.errno != errno.ESRCH
    return True


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
