"""Output and class names as they appear in logs keys, summary tags and file names."""
from __future__ import absolute_import

import re

_UNSAFE = re.compile(r'[^A-Za-z0-9_.\-]')


def safe_key(name):
    """`name` with every character other than letters, digits, `_`, `.` and `-`
    replaced by `_`: safe in a logs key, a TensorBoard tag and a file name."""
    return _UNSAFE.sub('_', str(name))
