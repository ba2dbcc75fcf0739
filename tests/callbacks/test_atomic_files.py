"""`write_atomic`: the one writer of our files (npz and PNG): unique temp file in the
target folder, fsync, rename; nothing left on error; the mode `open()` would give."""
import contextlib
import os
import stat

import numpy as np
import pytest

from keras_getpredict.analysis import atomic_files, plots
from keras_getpredict.analysis.atomic_files import current_umask, write_atomic, write_npz_atomic
from keras_getpredict.analysis.class_metrics import classification_metrics

PNG = b'\x89PNG\r\n\x1a\n'


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _figure():
    result = classification_metrics([0, 1, 1], [[.9, .1], [.4, .6], [.2, .8]])
    return plots.confusion_matrix_figure(result)


@pytest.mark.parametrize('mask', [0o022, 0o027, 0o077])
def test_new_files_get_the_mode_open_would_give(tmpdir, mask):
    with _umask(mask):
        assert current_umask() == mask
        npz = write_npz_atomic(str(tmpdir.join('p.npz')), {'y': np.arange(3)})
        png = plots.save_figure(_figure(), str(tmpdir.join('sub', 'cm.png')))
        with open(str(tmpdir.join('plain')), 'wb'):
            pass
    expected = _mode(str(tmpdir.join('plain')))
    assert expected == 0o666 & ~mask
    assert _mode(npz) == expected and _mode(png) == expected


def test_replaced_file_keeps_its_mode(tmpdir):
    path = str(tmpdir.join('p.npz'))
    write_npz_atomic(path, {'y': np.arange(3)})
    os.chmod(path, 0o640)
    write_npz_atomic(path, {'y': np.arange(4)})
    assert _mode(path) == 0o640
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data['y'], np.arange(4))


def test_data_is_synced_before_the_rename(tmpdir, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, 'fsync', lambda fd: (events.append('fsync'), real_fsync(fd))[1])
    monkeypatch.setattr(os, 'replace',
                        lambda a, b: (events.append('replace'), real_replace(a, b))[1])
    write_atomic(str(tmpdir.join('f.bin')), lambda f: f.write(b'data'))
    assert events[:2] == ['fsync', 'replace']
    with open(str(tmpdir.join('f.bin')), 'rb') as f:
        assert f.read() == b'data'


def test_failed_png_leaves_the_old_file_and_no_temp(tmpdir, monkeypatch):
    path = str(tmpdir.join('cm.png'))
    figure = _figure()
    plots.save_figure(figure, path)
    with open(path, 'rb') as f:
        before = f.read()

    def half_a_png(f, **kwargs):
        f.write(PNG + b'half')
        raise IOError('disk full')

    monkeypatch.setattr(figure, 'savefig', half_a_png)
    with pytest.raises(IOError, match='disk full'):
        plots.save_figure(figure, path)
    with open(path, 'rb') as f:
        assert f.read() == before
    assert os.listdir(str(tmpdir)) == ['cm.png']


def test_temp_files_are_unique_and_in_the_target_folder(tmpdir, monkeypatch):
    seen = []
    real_mkstemp = atomic_files.tempfile.mkstemp

    def recording_mkstemp(**kwargs):
        handle, temp = real_mkstemp(**kwargs)
        seen.append(temp)
        return handle, temp

    monkeypatch.setattr(atomic_files.tempfile, 'mkstemp', recording_mkstemp)
    path = str(tmpdir.join('deeper', 'f.png'))
    write_atomic(path, lambda f: f.write(b'1'))
    write_atomic(path, lambda f: f.write(b'2'))
    assert len(set(seen)) == 2
    assert all(os.path.dirname(t) == os.path.dirname(path) for t in seen)
    assert os.listdir(os.path.dirname(path)) == ['f.png']


def _dead_pid():
    import subprocess
    import sys
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    child.wait()
    return child.pid


def test_stale_temp_files_of_dead_writers_on_this_host_are_removed(tmpdir, monkeypatch):
    monkeypatch.setattr(atomic_files, '_swept', set())
    host = atomic_files._host()
    names = {'dead': '.keras-getpredict-%s-%d-abc_12.tmp.npz' % (host, _dead_pid()),
             'alive': '.keras-getpredict-%s-%d-xyz.tmp.npz' % (host, os.getpid()),
             'elsewhere': '.keras-getpredict-otherhost-%d-abc.tmp.npz' % _dead_pid(),
             'foreign': '.keras-getpredict-notes.txt', 'user': 'mine.tmp.npz'}
    for name in names.values():
        tmpdir.join(name).write('x')
    write_npz_atomic(str(tmpdir.join('p.npz')), {'y': np.arange(3)})
    left = sorted(os.listdir(str(tmpdir)))
    assert left == sorted(['p.npz'] + [n for k, n in names.items() if k != 'dead'])


def test_a_killed_writers_temp_file_goes_at_the_next_write(tmpdir, monkeypatch):
    import signal
    import subprocess
    import sys
    import textwrap
    script = textwrap.dedent('''
        import sys, time
        from keras_getpredict.analysis.atomic_files import write_atomic
        def write(f):
            print('writing', flush=True)
            time.sleep(60)
        write_atomic(sys.argv[1], write)
    ''')
    path = str(tmpdir.join('p.bin'))
    child = subprocess.Popen([sys.executable, '-c', script, path], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b'writing'
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert [n for n in os.listdir(str(tmpdir)) if n.startswith('.keras-getpredict-')]
    monkeypatch.setattr(atomic_files, '_swept', set())
    write_atomic(path, lambda f: f.write(b'data'))
    assert os.listdir(str(tmpdir)) == ['p.bin']
