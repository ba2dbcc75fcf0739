"""Without the `[metrics]` extra: capture and saving work, the analysis callbacks and
the report fail at their start with an `ImportError` that says what to install.

Each case runs in a child process where `sys.modules[name] = None` makes `import name`
fail, as it would were the package not installed."""
import json
import subprocess
import sys

import numpy as np
import pytest

from keras_getpredict import GtsAndPreds
from keras_getpredict.analysis.optional_deps import INSTALL_COMMAND, optional_module
from keras_getpredict.analysis.files import save_predictions

CHILD = r'''
import json, sys, warnings
warnings.simplefilter('ignore')
for name in sys.argv[1].split(','):
    sys.modules[name] = None
path, log_dir = sys.argv[2], sys.argv[3]
outcome = {}

def attempt(label, make):
    try:
        make()
        outcome[label] = 'ok'
    except ImportError as e:
        outcome[label] = 'ImportError: %s' % e

from keras_getpredict.prediction_files import load_predictions
from keras_getpredict.classification import classification_metrics
from keras_getpredict.analysis.report import report
attempt('load_predictions', lambda: load_predictions(path))
attempt('report', lambda: report(path, stream=False))
attempt('classification_metrics', lambda: classification_metrics([0, 1], [[.8, .2], [.3, .7]]))
from keras_getpredict.__main__ import main
outcome['cli_exit_code'] = main(['report', path])
from keras_getpredict.callbacks import EpochMetrics, PredictionSaver, TensorBoardPredictions
attempt('EpochMetrics', lambda: EpochMetrics())
attempt('PredictionSaver', lambda: PredictionSaver('e{epoch}.npz'))
attempt('TensorBoardPredictions', lambda: TensorBoardPredictions(log_dir))
attempt('TensorBoardPredictions without images',
        lambda: TensorBoardPredictions(log_dir, confusion_matrix=False))
sys.stdout.write('\nOUTCOME ' + json.dumps(outcome) + '\n')
'''


def _run_without(modules, tmpdir):
    path = str(tmpdir.join('epoch_01.npz'))
    save_predictions(path, GtsAndPreds(['probs'], [np.eye(2)[[0, 1, 1]]],
                                       [np.array([[.9, .1], [.4, .6], [.2, .8]])]), epoch=1)
    child = subprocess.run([sys.executable, '-c', CHILD, ','.join(modules), path,
                            str(tmpdir.join('tb'))],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
    assert child.returncode == 0, child.stderr
    line = [row for row in child.stdout.splitlines() if row.startswith('OUTCOME ')][-1]
    return json.loads(line[len('OUTCOME '):]), child.stderr


def _says_install(message, package):
    return (message.startswith('ImportError: ') and 'needs %s' % package in message and
            INSTALL_COMMAND in message)


def test_without_scikit_learn(tmpdir):
    outcome, stderr = _run_without(['sklearn'], tmpdir)
    assert outcome['load_predictions'] == 'ok'
    assert outcome['PredictionSaver'] == 'ok'
    for label in ('report', 'classification_metrics', 'EpochMetrics', 'TensorBoardPredictions',
                  'TensorBoardPredictions without images'):
        assert _says_install(outcome[label], 'scikit-learn'), (label, outcome[label])
    assert outcome['cli_exit_code'] == 1
    assert "keras-getpredict report: keras-getpredict needs scikit-learn" in stderr
    assert INSTALL_COMMAND in stderr


def test_without_matplotlib(tmpdir):
    outcome, _ = _run_without(['matplotlib'], tmpdir)
    for label in ('load_predictions', 'PredictionSaver', 'classification_metrics',
                  'EpochMetrics', 'TensorBoardPredictions without images'):
        assert outcome[label] == 'ok', (label, outcome[label])
    for label in ('report', 'TensorBoardPredictions'):
        assert _says_install(outcome[label], 'matplotlib'), (label, outcome[label])
    assert outcome['cli_exit_code'] == 1


def test_optional_module_returns_the_module_when_installed():
    import sklearn.metrics
    assert optional_module('sklearn.metrics') is sklearn.metrics


def test_missing_module_message_names_package_and_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'sklearn', None)
    monkeypatch.delitem(sys.modules, 'sklearn.datasets', raising=False)
    with pytest.raises(ImportError) as raised:
        optional_module('sklearn.datasets')
    assert 'keras-getpredict needs scikit-learn' in str(raised.value)
    assert "pip install 'keras-getpredict[metrics]'" in str(raised.value)
