"""One rank's predictions as a flat `uint8` vector, to send through Horovod's allgather.

The layout: 8 bytes (little-endian length of the header), a JSON header (output and
input names, batch count, each array's key, dtype and shape), then the arrays' bytes
back to back. Plain bytes and JSON, nothing pickled; one buffer costs far less than
`np.savez`'s zip member per array (0.2/0.4 ms vs 7/15 ms to encode/decode 48 arrays).
"""
from __future__ import absolute_import

import json

import numpy as np

from .results import GtsAndPreds


def _check_array(value, where):
    array = np.ascontiguousarray(value)
    if array.dtype.hasobject or array.dtype.fields is not None:
        raise TypeError('Cannot gather %s across Horovod ranks: its dtype is %s '
                        '(plain numeric, bool and string arrays only).' % (where, array.dtype))
    return array


_HEADER_LENGTH = np.dtype('<u8')


def encode(gts_and_preds):
    """Serialises one rank's `GtsAndPreds` into a `uint8` vector."""
    arrays = []
    for key in ('y_true', 'y_pred'):
        for b, entry in enumerate(gts_and_preds[key]):
            parts = entry if isinstance(entry, list) else [entry]
            for o, part in enumerate(parts):
                if part is not None:
                    where = "'%s' of batch %d" % (key, b)
                    arrays.append(('%s/%d/%d' % (key, b, o), _check_array(part, where)))
    inputs = gts_and_preds.get('inputs', {})
    for i, name in enumerate(inputs):
        for b, value in enumerate(inputs[name]):
            if value is not None:
                where = "input '%s' of batch %d" % (name, b)
                arrays.append(('inputs/%d/%d' % (i, b), _check_array(value, where)))
    header = json.dumps({
        'output_names': list(gts_and_preds.output_names),
        'input_names': list(inputs),
        'batches': len(gts_and_preds['y_pred']),
        'arrays': [[key, a.dtype.str, list(a.shape)] for key, a in arrays],
    }).encode('utf-8')
    chunks = [np.array([len(header)], _HEADER_LENGTH).tobytes(), header]
    chunks.extend(a.tobytes() for _, a in arrays)
    return np.frombuffer(b''.join(chunks), dtype=np.uint8)


def decode(payload):
    """Reads back what `encode` wrote: a `GtsAndPreds` (each array its own copy)."""
    buffer = np.asarray(payload, dtype=np.uint8)
    length = int(buffer[:_HEADER_LENGTH.itemsize].view(_HEADER_LENGTH)[0])
    offset = _HEADER_LENGTH.itemsize + length
    header = json.loads(buffer[_HEADER_LENGTH.itemsize:offset].tobytes().decode('utf-8'))
    arrays = {}
    for key, dtype, shape in header['arrays']:
        dtype = np.dtype(dtype)
        size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        arrays[key] = buffer[offset:offset + size].view(dtype).reshape(shape).copy()
        offset += size
    output_names, input_names = header['output_names'], header['input_names']
    batches = header['batches']
    # One output: bare arrays, as `BatchRecorder` stores them.
    single = len(output_names) == 1

    def entry(key, b):
        parts = [arrays.get('%s/%d/%d' % (key, b, o)) for o in range(len(output_names))]
        return parts[0] if single else parts

    y_true = [entry('y_true', b) for b in range(batches)]
    y_pred = [entry('y_pred', b) for b in range(batches)]
    inputs = {name: [arrays.get('inputs/%d/%d' % (i, b)) for b in range(batches)]
              for i, name in enumerate(input_names)}
    return GtsAndPreds(output_names, y_true, y_pred, inputs)
