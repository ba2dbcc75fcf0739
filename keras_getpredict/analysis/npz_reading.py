"""Reads an `.npz` file without pickle, turning every way it can be damaged into one
`ValueError` naming the file and the member.

`np.load` alone lets a damaged file through as `BadZipFile`, `zlib.error`,
`EOFError` or a pickle complaint (for a file that is not a zip at all), tries to
allocate whatever shape a damaged header claims, and its `NpzFile.__del__` prints
noise when the zip cannot be opened. Here each member is read as bytes, its `.npy`
header is parsed, and its size is checked against the bytes before any array is made.
"""
from __future__ import absolute_import

import io
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

_ZIP_SIGNATURE = b'PK\x03\x04'
_DAMAGE = (ValueError, EOFError, KeyError, OSError, IOError, RuntimeError, SyntaxError,
           TypeError, OverflowError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def read_npz(path):
    """Returns an `OrderedDict` of member name (without `.npy`) to array.

    # Raises
        ValueError: In case `path` is not an `.npz` file, or a member is damaged,
            holds objects (it would need pickle) or is not an `.npy` array.
        IOError: In case the file cannot be opened.
    """
    with open(path, 'rb') as f:
        if f.read(len(_ZIP_SIGNATURE)) != _ZIP_SIGNATURE:
            raise ValueError('%s is not an .npz file (it does not start with the zip '
                             'signature).' % path)
        f.seek(0)
        try:
            archive = zipfile.ZipFile(f)
        except _DAMAGE as e:
            raise ValueError('%s is a damaged .npz file (%s).' % (path, _what(e)))
        with archive:
            arrays = OrderedDict()
            for info in archive.infolist():
                name = info.filename
                if not name.endswith('.npy'):
                    raise ValueError('%s holds %r, which is not an .npy array.' % (path, name))
                try:
                    arrays[name[:-len('.npy')]] = _array_from_bytes(archive.read(info))
                except _DAMAGE as e:
                    raise ValueError('%s: member %r is damaged (%s).' % (path, name, _what(e)))
    return arrays


def _array_from_bytes(data):
    buffer = io.BytesIO(data)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(buffer)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(buffer)
    else:
        raise ValueError('.npy format version %s is not supported' % (version,))
    if dtype.hasobject:
        raise ValueError('it holds Python objects (dtype %s), which would need pickle'
                         % dtype)
    count = 1
    for length in shape:
        count *= int(length)
    body = memoryview(data)[buffer.tell():]
    if count * dtype.itemsize != len(body):
        raise ValueError('its header announces %s %s values (%d bytes) but %d bytes follow'
                         % (shape, dtype, count * dtype.itemsize, len(body)))
    array = np.frombuffer(body, dtype=dtype, count=count)
    return array.reshape(shape, order='F' if fortran_order else 'C').copy()


def _what(error):
    text = str(error).strip().replace('\n', ' ')
    return '%s: %s' % (type(error).__name__, text) if text else type(error).__name__
