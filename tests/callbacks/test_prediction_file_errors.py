"""Damaged and foreign files: `load_predictions` raises one clear `ValueError`, and
`keras-getpredict report` exits 1 with one line on stderr naming the file."""
import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from keras_getpredict.__main__ import main
from keras_getpredict.analysis.files import load_predictions
from support.prediction_files import good_file


def members(path):
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def rewrite(path, arrays):
    np.savez(path, **arrays)
    return path


def _cli_error(path, capsys):
    assert main(['report', path, '--out', os.path.dirname(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith('keras-getpredict report: %s' % path), captured.err
    assert captured.err.count('\n') == 1 and 'Traceback' not in captured.err
    return captured.err


def test_a_csv_file_is_not_an_npz(tmpdir, capsys):
    path = str(tmpdir.join('t.npz'))
    with open(path, 'w') as f:
        f.write('a,b\n')
    with pytest.raises(ValueError, match='t.npz is not an .npz file'):
        load_predictions(path)
    assert 'pickle' not in _cli_error(path, capsys)


def test_a_truncated_file_gives_one_line_without_npzfile_noise(tmpdir):
    # In a child process, so the interpreter's own "Exception ignored in" lines show.
    good = good_file(str(tmpdir.join('good.npz')))
    path = str(tmpdir.join('t.npz'))
    with open(good, 'rb') as f, open(path, 'wb') as g:
        g.write(f.read()[:600])
    with pytest.raises(ValueError, match='t.npz is a damaged .npz file'):
        load_predictions(path)
    child = subprocess.run([sys.executable, '-m', 'keras_getpredict', 'report', path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = child.stderr.decode()
    assert child.returncode == 1
    assert err.startswith('keras-getpredict report: %s is a damaged .npz file' % path)
    assert err.count('\n') == 1, err


@pytest.mark.parametrize('missing', ['log_names', 'log_values', 'epoch', 'y_pred/a',
                                     'threshold/a'])
def test_a_missing_member_is_named(tmpdir, capsys, missing):
    path = good_file(str(tmpdir.join('p.npz')))
    arrays = members(path)
    del arrays[missing]
    rewrite(path, arrays)
    with pytest.raises(ValueError, match="%s: .*'%s'" % (path, missing)):
        load_predictions(path)
    assert repr(missing) in _cli_error(path, capsys)


@pytest.mark.parametrize('key, value, complaint', [
    ('y_pred/a', np.array(['x', 'y']), "'y_pred/a' should hold numbers; it has dtype <U1"),
    ('y_true/a', np.zeros((3, 3)), r"'y_true/a' has shape \(3, 3\) but 'y_pred/a' has shape"),
    ('y_pred/b', np.float64(1), "'y_pred/b' should have a sample axis"),
    ('output_names', np.array([1, 2]), "'output_names' should hold text"),
    ('output_names', np.array(['a']), "it holds 'y_pred/b', but `output_names` lists only"),
    ('epoch', np.array([1, 2]), "'epoch' should be one integer"),
    ('format', np.int64(9), 'it has format 9; this keras-getpredict reads formats 1 to 1'),
    ('log_values', np.zeros(3), "'log_values' has shape \\(3,\\); it should hold one value"),
    ('task/a', np.array('sorting'), "'task/a' should be one of"),
    ('threshold/a', np.array('high'), "'threshold/a' should hold numbers"),
])
def test_wrong_dtypes_and_shapes_are_named(tmpdir, capsys, key, value, complaint):
    path = good_file(str(tmpdir.join('p.npz')))
    arrays = members(path)
    arrays[key] = value
    rewrite(path, arrays)
    with pytest.raises(ValueError, match=complaint):
        load_predictions(path)
    _cli_error(path, capsys)


def _zip_with(path, name, payload):
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr(name, payload)
    return path


def test_object_arrays_are_never_unpickled(tmpdir, capsys):
    buffer = io.BytesIO()
    np.save(buffer, np.array([{'x': 1}], dtype=object), allow_pickle=True)
    path = _zip_with(str(tmpdir.join('p.npz')), 'format.npy', buffer.getvalue())
    with pytest.raises(ValueError, match="member 'format.npy' is damaged .*need pickle"):
        load_predictions(path)
    _cli_error(path, capsys)


def test_a_header_announcing_a_huge_array_is_refused_before_allocating(tmpdir):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {'descr': '<f8', 'fortran_order': False,
                                                  'shape': (10 ** 6, 10 ** 6)})
    path = _zip_with(str(tmpdir.join('p.npz')), 'y.npy', buffer.getvalue() + b'\0' * 16)
    with pytest.raises(ValueError, match='announces .* but 16 bytes follow'):
        load_predictions(path)


def test_a_member_that_is_not_npy(tmpdir, capsys):
    path = _zip_with(str(tmpdir.join('p.npz')), 'notes.txt', b'hello')
    with pytest.raises(ValueError, match="holds 'notes.txt', which is not an .npy array"):
        load_predictions(path)


def test_the_good_file_still_loads(tmpdir):
    loaded = load_predictions(good_file(str(tmpdir.join('p.npz'))))
    assert loaded.output_names == ['a', 'b'] and loaded.epoch == 2
    assert loaded.settings['a']['class_names'] == ['x', 'y', 'z']
