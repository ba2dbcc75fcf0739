"""`keras-getpredict --help` and `keras-getpredict report FILE` never import TensorFlow
or Keras: the report runs where only the prediction files are."""
import json
import os
import subprocess
import sys

import numpy as np

from keras_getpredict import GtsAndPreds
from keras_getpredict.analysis.files import save_predictions
from keras_getpredict.callbacks import EpochMetrics

# Runs the command as `python -m keras_getpredict` does, then says what was imported.
CHILD = r'''
import json, sys
from keras_getpredict.__main__ import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
sys.stdout.write('\nIMPORTED ' + json.dumps(
    {name: name in sys.modules for name in ('tensorflow', 'keras', 'sklearn', 'matplotlib')}) +
    '\n')
sys.exit(code)
'''


def _run(*argv):
    env = dict(os.environ)
    env.pop('TF_CPP_MIN_LOG_LEVEL', None)
    child = subprocess.run([sys.executable, '-c', CHILD] + list(argv), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
    line = [row for row in child.stdout.splitlines() if row.startswith('IMPORTED ')][-1]
    return child, json.loads(line[len('IMPORTED '):])


def test_help_imports_neither_tensorflow_nor_keras():
    child, imported = _run('--help')
    assert child.returncode == 0
    assert 'report' in child.stdout and 'demo' in child.stdout
    assert imported == {'tensorflow': False, 'keras': False, 'sklearn': False,
                        'matplotlib': False}
    assert 'Using TensorFlow backend.' not in child.stderr


def test_report_imports_neither_tensorflow_nor_keras(tmpdir):
    path = str(tmpdir.join('epoch_03.npz'))
    labels = np.eye(3)[[0, 1, 2, 2, 1]]
    scores = np.array([[.7, .2, .1], [.1, .8, .1], [.2, .2, .6], [.5, .1, .4], [.3, .4, .3]])
    save_predictions(path, GtsAndPreds(['probs'], [labels], [scores]), epoch=3,
                     metrics=EpochMetrics(class_names=['a', 'b', 'c']))
    child, imported = _run('report', path, '--out', str(tmpdir.join('plots')))
    assert child.returncode == 0, child.stderr
    assert "Output 'probs' (multiclass, 5 samples):" in child.stdout
    assert sorted(os.listdir(str(tmpdir.join('plots')))) == [
        'epoch_03.confusion_matrix.png', 'epoch_03.per_class.png', 'epoch_03.pr_curves.png']
    assert imported['tensorflow'] is False and imported['keras'] is False
    assert imported['sklearn'] is True and imported['matplotlib'] is True
    assert 'Using TensorFlow backend.' not in child.stderr


def test_module_entry_point_help_prints_no_backend_line():
    child = subprocess.run([sys.executable, '-m', 'keras_getpredict', '--help'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
    assert child.returncode == 0 and 'usage: keras-getpredict' in child.stdout
    assert child.stderr == ''
