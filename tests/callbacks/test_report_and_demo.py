"""`keras-getpredict report FILE.npz` and `keras-getpredict demo`, end to end."""
import csv
import os

import numpy as np
import pytest
from sklearn import metrics as skm
from support.stack import standalone_only
from tensorboard.backend.event_processing import event_accumulator

from keras_getpredict import GtsAndPreds
from keras_getpredict.__main__ import main
from keras_getpredict.callbacks import EpochMetrics
from keras_getpredict.analysis.files import load_predictions, save_predictions

PNG = b'\x89PNG\r\n\x1a\n'


def _saved_file(tmpdir):
    rng = np.random.RandomState(5)
    labels = rng.randint(0, 2, (60, 4))
    scores = np.clip(labels * 0.6 + rng.rand(60, 4) * 0.5, 0, 1)
    path = str(tmpdir.join('epoch_07.npz'))
    metrics = EpochMetrics(task='multilabel', threshold=0.55,
                           class_names=['red', 'green', 'blue', 'alpha'])
    save_predictions(path, GtsAndPreds(['tags'], [labels[:32], labels[32:]],
                                       [scores[:32], scores[32:]]),
                     epoch=7, metrics=metrics, logs={'val_loss': 0.5})
    return path, labels, scores


def test_report_prints_table_and_writes_pngs(tmpdir, capsys):
    path, labels, scores = _saved_file(tmpdir)
    assert main(['report', path, '--out', str(tmpdir.join('plots'))]) == 0
    out = capsys.readouterr().out
    assert 'epoch 7' in out and 'val_loss: 0.5' in out
    assert "Output 'tags' (multilabel, 60 samples):" in out
    f1 = skm.f1_score(labels, (scores >= 0.55).astype(int), average=None)
    green = [r.split() for r in out.splitlines() if r.strip().startswith('green ')][0]
    assert float(green[3]) == pytest.approx(f1[1], abs=5e-4)
    pngs = sorted(os.listdir(str(tmpdir.join('plots'))))
    assert pngs == ['epoch_07.confusion_matrix.png', 'epoch_07.per_class.png',
                    'epoch_07.pr_curves.png']
    for name in pngs:
        with open(str(tmpdir.join('plots', name)), 'rb') as f:
            assert f.read(8) == PNG


def test_report_errors_are_one_line_and_exit_1(tmpdir, capsys):
    path, _, _ = _saved_file(tmpdir)
    assert main(['report', path, '--output', 'boxes']) == 1
    err = capsys.readouterr().err
    assert "`outputs` names ['boxes'], but the predictions hold the outputs ['tags']" in err
    assert err.startswith('keras-getpredict report: %s: ' % path) and err.count('\n') == 1
    other = str(tmpdir.join('other.npz'))
    np.savez(other, weights=np.zeros(2))
    assert main(['report', other]) == 1
    assert 'not a keras-getpredict predictions file' in capsys.readouterr().err
    assert main(['report', str(tmpdir.join('missing.npz'))]) == 1


@standalone_only  # the demo trains with standalone Keras
def test_demo_end_to_end_with_a_few_steps(tmpdir, capsys):
    run = str(tmpdir.join('run'))
    assert main(['demo', '--out', run, '--epochs', '2', '--steps', '3']) == 0
    out = capsys.readouterr().out
    # Keras' progress bar, the per-class table under it, the checkpoint monitoring
    # val_f1_macro, and the closing summary.
    assert '3/3 [==============================]' in out
    assert "Validation metrics after epoch 2, output 'digit' (multiclass, 450 samples):" in out
    assert 'Epoch 00001: val_f1_macro improved from -inf' in out
    assert 'Run folder: %s' % run in out

    predictions = [os.path.join(run, 'predictions', 'epoch_%02d.npz' % e) for e in (1, 2)]
    assert sorted(os.listdir(os.path.join(run, 'predictions'))) == [
        'epoch_01.npz', 'epoch_02.npz']
    last = load_predictions(predictions[-1])
    assert last.y_pred['digit'].shape == (450, 10)
    assert last.settings['digit']['class_names'] == [str(d) for d in range(10)]
    assert os.path.isfile(os.path.join(run, 'best_model.h5'))
    with open(os.path.join(run, 'history.csv')) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    # The CSV and the file agree: the metric was computed from the saved predictions.
    y_true = last.y_true['digit'].argmax(1)
    y_hat = last.y_pred['digit'].argmax(1)
    assert float(rows[1]['val_f1_macro']) == pytest.approx(
        skm.f1_score(y_true, y_hat, average='macro'), rel=1e-6)

    plots = sorted(os.listdir(os.path.join(run, 'plots')))
    assert plots == ['epoch_02.confusion_matrix.png', 'epoch_02.per_class.png',
                     'epoch_02.pr_curves.png', 'training_curves.png']
    accumulator = event_accumulator.EventAccumulator(os.path.join(run, 'tensorboard'))
    accumulator.Reload()
    assert len(accumulator.PluginTagToContent('pr_curves')) == 10
    assert list(accumulator.PluginTagToContent('images')) == ['confusion_matrix/image_summary']
    assert 'val_f1_macro' in accumulator.Tags()['scalars']


def test_python_dash_m_runs_the_report_command(tmpdir):
    import subprocess
    import sys
    path, _, _ = _saved_file(tmpdir)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    out = subprocess.check_output([sys.executable, '-m', 'keras_getpredict', 'report', path],
                                  env=env, universal_newlines=True, stderr=subprocess.DEVNULL)
    assert "Output 'tags' (multilabel, 60 samples):" in out
    assert os.path.isfile(str(tmpdir.join('epoch_07.pr_curves.png')))
