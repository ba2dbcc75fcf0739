"""Property-based tests (Hypothesis): random damage to a valid predictions file
(truncation, flipped bytes, removed, extra or retyped members) gives a `ValueError`
naming the file from `load_predictions` and exit 1 with one stderr line from
`keras-getpredict report`, or a file that still loads and reports: never a
traceback or a hang."""
import contextlib
import io
import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import event, given, settings, strategies as st

from keras_getpredict.__main__ import main
from keras_getpredict.analysis.files import load_predictions

from support.prediction_files import good_file

_GOOD = {}


def _good():
    """The valid file's bytes and members, made once."""
    if not _GOOD:
        folder = tempfile.mkdtemp()
        try:
            path = good_file(os.path.join(folder, 'good.npz'))
            with open(path, 'rb') as f:
                _GOOD['bytes'] = f.read()
            with np.load(path, allow_pickle=False) as data:
                _GOOD['members'] = {key: data[key] for key in data.files}
        finally:
            shutil.rmtree(folder)
    return _GOOD


ARRAYS = st.one_of(
    st.integers(-3, 3).map(np.int64),
    st.floats(allow_nan=True).map(np.float64),
    st.text(max_size=4).map(np.array),
    st.lists(st.text(max_size=3), max_size=3).map(lambda v: np.array(v, dtype='U')),
    st.lists(st.floats(-2, 2), max_size=6).map(np.array),
    st.lists(st.booleans(), max_size=4).map(lambda v: np.array(v, dtype=bool)),
    st.tuples(st.integers(0, 4), st.integers(1, 3)).map(lambda s: np.ones(s)),
    st.tuples(st.integers(0, 4), st.integers(1, 3)).map(lambda s: np.zeros(s, 'int8')))


@st.composite
def damaged(draw):
    """`(description, bytes)` of one random damage to the valid file."""
    good = _good()
    size = len(good['bytes'])
    how = draw(st.sampled_from(['truncate', 'flip', 'remove', 'extra', 'retype']))
    if how == 'truncate':
        cut = draw(st.integers(0, size - 1))
        return 'truncated at %d' % cut, good['bytes'][:cut]
    if how == 'flip':
        data = bytearray(good['bytes'])
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, size - 1))
            data[at] ^= draw(st.integers(1, 255))
        return 'flipped bytes', bytes(data)
    members = dict(good['members'])
    if how == 'remove':
        for key in draw(st.lists(st.sampled_from(sorted(members)), min_size=1, unique=True)):
            del members[key]
    elif how == 'extra':
        name = draw(st.one_of(st.sampled_from(['y_pred/c', 'y_true/b', 'task/b', 'inputs/x',
                                               'class_names/b']),
                              st.text('abcxyz_/', min_size=1, max_size=6)))
        members[name] = draw(ARRAYS)
    else:
        members[draw(st.sampled_from(sorted(members)))] = draw(ARRAYS)
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    return '%s: %s' % (how, sorted(members)), buffer.getvalue()


@pytest.mark.timeout(600)
@settings(max_examples=80)
@given(damaged())
def test_damaged_files_give_one_clear_error_or_load(case):
    what, data = case
    folder = tempfile.mkdtemp()
    try:
        path = os.path.join(folder, 'p.npz')
        with open(path, 'wb') as f:
            f.write(data)
        try:
            load_predictions(path)
            loads = True
        except ValueError as e:
            assert path in str(e), (what, str(e))
            loads = False
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(['report', path, '--out', folder])
        err = err.getvalue()
        event('%s; load_predictions %s; report exit %d' % (
            what.split(':')[0].split(' at ')[0], 'loads' if loads else 'ValueError', code))
        if loads and code == 0:
            assert err == ''
        else:
            assert code == 1, (what, err)
            assert err.startswith('keras-getpredict report: %s' % path), (what, err)
            assert err.count('\n') == 1, (what, err)
    finally:
        shutil.rmtree(folder)
