"""The Keras-suite gate's own logic: outcome comparison, the pytest plugin, the forcing."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from support.paths import ROOT

pytestmark = pytest.mark.standalone  # the gate forces standalone Keras' methods
keras = pytest.importorskip('keras')

import keras_getpredict  # noqa: E402

sys.path.insert(0, ROOT)

from keras_suite import compare, forcing, run_gate  # noqa: E402
from support.models import frozen_dense  # noqa: E402
from keras_suite.keras_getpredict_testplugin import (  # noqa: E402
    PROPERTY, UPSTREAM_TF_SKIP_REASON)

STATE = {'stock': {'mode': 'stock', 'installed': False},
         'install': {'mode': 'install', 'installed': True},
         'force': {'mode': 'force', 'installed': True, 'forcing': True,
                   'forced_calls': 2, 'entries': 5, 'targets_checked': 1, 'problems': []}}


def _runs(outcomes, states=None):
    """outcomes: {mode: {test id: outcome}} -> what `load_run` returns."""
    runs = {}
    for mode, tests in outcomes.items():
        runs[mode] = {'meta': [], 'tests': {
            test_id: {'outcome': outcome, PROPERTY: dict((states or STATE)[mode])}
            for test_id, outcome in tests.items()}}
    return runs


def test_compare_passes_when_every_outcome_matches():
    same = {'t.py::a': 'passed', 't.py::b': 'skipped'}
    runs = _runs({'stock': same, 'install': same, 'force': same})
    result = compare.compare(runs, [])
    assert compare.failures(result, runs) == []
    assert result['forced_calls'] == 4 and result['entries'] == 10  # summed over tests


def test_compare_lists_the_ids_whose_outcome_differs_from_stock():
    runs = _runs({'stock': {'t.py::a': 'passed', 't.py::b': 'passed'},
                  'install': {'t.py::a': 'passed', 't.py::b': 'passed'},
                  'force': {'t.py::a': 'failed'}})
    result = compare.compare(runs, [])
    assert [test_id for test_id, _ in result['differences']] == ['t.py::a', 't.py::b']
    assert dict(result['differences'])['t.py::b']['force'] == 'missing'
    assert len(compare.failures(result, runs)) == 2


def test_known_failures_are_left_out_and_a_star_matches_any_parameter(tmpdir):
    path = tmpdir.join('known.txt')
    path.write('# comment\nt.py::flaky[*]  # reads and updates one variable\n')
    known = compare.load_known(str(path))
    runs = _runs({'stock': {'t.py::flaky[list]': 'failed', 't.py::other[x]': 'failed'},
                  'install': {'t.py::flaky[list]': 'passed', 't.py::other[x]': 'failed'}})
    result = compare.compare(runs, known)
    assert [k[0] for k in result['known']] == ['t.py::flaky[list]']
    # Same outcome everywhere, but failing on stock and not listed: the list must say why.
    assert result['unlisted_stock_failures'] == ['t.py::other[x]']
    assert compare.matches('t.py::f[a-b]', 't.py::f[*]')
    assert not compare.matches('t.py::g[a]', 't.py::f[*]')


def test_known_failures_file_needs_a_reason_on_every_line(tmpdir):
    path = tmpdir.join('known.txt')
    path.write('t.py::a\n')
    with pytest.raises(ValueError, match='reason'):
        compare.load_known(str(path))


def test_the_shipped_known_failures_file_parses():
    known = compare.load_known(os.path.join(ROOT, 'keras_suite', 'known_stock_failures.txt'))
    assert all(reason for _, reason in known)


def test_compare_fails_when_the_plugin_was_not_in_effect_or_capture_went_wrong():
    states = dict(STATE)
    states['install'] = {'mode': 'install', 'installed': False}
    states['force'] = dict(STATE['force'], problems=['evaluate: 2 entries for 3 batches'])
    runs = _runs({'stock': {'t.py::a': 'passed'}, 'install': {'t.py::a': 'passed'},
                  'force': {'t.py::a': 'passed'}}, states)
    result = compare.compare(runs, [])
    assert result['inactive'] == [('install', 't.py::a')]
    assert result['capture_problems'] == [('t.py::a', 'evaluate: 2 entries for 3 batches')]
    lines = compare.failures(result, runs)
    assert any('not in effect' in line for line in lines)
    assert any('2 entries for 3 batches' in line for line in lines)


def test_compare_fails_when_the_forced_run_forced_nothing():
    states = dict(STATE, force=dict(STATE['force'], forced_calls=0, entries=0))
    runs = _runs({'stock': {'t.py::a': 'passed'}, 'force': {'t.py::a': 'passed'}}, states)
    result = compare.compare(runs, [])
    assert any('forced no call' in line for line in compare.failures(result, runs))


MULTIPROCESSING_SAMPLE = """
import sys

def test_hung_once():
    pass

def test_fails_when_installed():
    # The plugin imports keras_getpredict in the install and force modes only.
    assert 'keras_getpredict' not in sys.modules

def test_passes_everywhere():
    pass
"""


def test_gate_reruns_multiprocessing_differences_and_keeps_those_that_come_back(tmpdir):
    # A fake suite holding the multiprocessing files; the first runs are made up: one
    # test "hung" in install (a stock deadlock upstream knows), one really fails when
    # installed. The rerun clears the first and keeps the second.
    suite = tmpdir.mkdir('suite')
    suite.join('tests', 'keras', 'utils', 'data_utils_test.py').write('', ensure=True)
    suite.join('tests', 'test_multiprocessing.py').write(MULTIPROCESSING_SAMPLE)
    hung, broken, fine = ('tests/test_multiprocessing.py::' + name for name in (
        'test_hung_once', 'test_fails_when_installed', 'test_passes_everywhere'))
    first = {'stock': {hung: 'passed', broken: 'passed', fine: 'passed'},
             'install': {hung: 'failed', broken: 'failed', fine: 'passed'},
             'force': {hung: 'passed', broken: 'failed', fine: 'passed'}}
    runs = _runs(first)
    reruns = run_gate.rerun_multiprocessing_differences(
        runs, [], str(suite), str(tmpdir.join('results')))

    assert sorted(test_id for test_id, _, _ in reruns) == sorted([hung, broken])
    assert dict((t, o) for t, o, _ in reruns)[hung]['install'] == 'failed'  # the first run's
    result = compare.compare(runs, [])
    assert [test_id for test_id, _ in result['differences']] == [broken]
    assert {m: runs[m]['tests'][hung]['outcome'] for m in runs} == dict.fromkeys(runs, 'passed')
    assert runs['install']['tests'][fine] == first_record(first, 'install', fine)
    # The rerun's records carry the plugin's state, so the forced checks still apply.
    assert runs['force']['tests'][hung][PROPERTY]['mode'] == 'force'


def first_record(first, mode, test_id):
    return {'outcome': first[mode][test_id], PROPERTY: dict(STATE[mode])}


SAMPLE_TESTS = '''
import pytest

pytestmark = pytest.mark.skipif(True, reason=%r)

@pytest.fixture
def broken():
    raise RuntimeError('fixture')

def test_passes():
    pass

def test_fails():
    assert 1 == 2

def test_errors(broken):
    pass

@pytest.mark.xfail(reason='known')
def test_xfails():
    assert False
''' % UPSTREAM_TF_SKIP_REASON


@pytest.mark.parametrize('workers', [None, 2])
def test_plugin_writes_one_outcome_per_test_id_and_lifts_the_upstream_skip(tmpdir, workers):
    tmpdir.join('test_sample.py').write(SAMPLE_TESTS)
    out = tmpdir.join('out.json')
    env = dict(os.environ, PYTHONPATH=ROOT)
    command = [sys.executable, '-m', 'pytest', '-p', 'keras_suite.keras_getpredict_testplugin',
               '-p', 'no:cacheprovider', '-c', os.devnull, '--rootdir', str(tmpdir),
               '--outcomes-json', str(out), '--lift-tf-skip', '-q', 'test_sample.py']
    if workers:
        command += ['-n', str(workers)]
    subprocess.call(command, cwd=str(tmpdir), env=env,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tests = json.loads(out.read())['tests']
    outcomes = {test_id.split('::')[1]: record['outcome'] for test_id, record in tests.items()}
    assert outcomes == {'test_passes': 'passed', 'test_fails': 'failed',
                        'test_errors': 'error', 'test_xfails': 'xfailed'}
    # The per-test state reached the controlling process, also from xdist workers.
    assert tests['test_sample.py::test_passes'][PROPERTY] == {'mode': 'stock',
                                                              'installed': False}
    assert 'assert 1 == 2' in tests['test_sample.py::test_fails']['message']


def test_plugin_keeps_the_upstream_skip_unless_asked(tmpdir):
    tmpdir.join('test_sample.py').write(SAMPLE_TESTS)
    out = tmpdir.join('out.json')
    subprocess.call([sys.executable, '-m', 'pytest', '-p',
                     'keras_suite.keras_getpredict_testplugin', '-p', 'no:cacheprovider',
                     '-c', os.devnull, '--rootdir', str(tmpdir), '--outcomes-json', str(out),
                     '-q', 'test_sample.py'],
                    cwd=str(tmpdir), env=dict(os.environ, PYTHONPATH=ROOT),
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tests = json.loads(out.read())['tests']
    assert {record['outcome'] for record in tests.values()} == {'skipped'}


# The forcing wrappers, on a model whose outputs are known: y = x . [[1], [2]], lr=0.

@pytest.fixture
def forced():
    keras_getpredict.install()
    forcing.install_forcing()
    forcing.LOG.reset()
    yield forcing.LOG
    forcing.uninstall_forcing()
    forcing.LOG.reset()


def _model():
    return frozen_dense([[1.], [2.]], name='y', input_name='x')


X = np.arange(20, dtype='float32').reshape(10, 2)
Y = X.dot([[1.], [2.]]).astype('float32') + 1.  # every error is exactly 1


def test_forced_evaluate_returns_only_the_metrics_and_checks_the_capture(forced):
    model = _model()
    loss = model.evaluate(X, Y, batch_size=4, verbose=0)
    assert loss == pytest.approx(1.)
    assert (forced.calls, forced.entries, forced.problems) == (1, 3, [])
    # y_true and the captured input compared with the data passed in, y_pred with predict().
    assert forced.targets_checked == 2 and forced.predictions_checked == 1


def test_forced_fit_checks_every_validated_epoch(forced):
    model = _model()
    history = model.fit(X, Y, batch_size=3, epochs=2, verbose=0, validation_split=0.5)
    assert history.history['val_loss'] == pytest.approx([1., 1.])
    # 5 validation samples in batches of 3: two entries per epoch, each epoch's
    # y_pred compared with predict() on the held-out samples.
    assert (forced.calls, forced.entries, forced.problems) == (1, 4, [])
    assert forced.predictions_checked == 2


def test_keras_own_validation_call_inside_fit_generator_is_not_forced(forced):
    model = _model()

    def batches():
        while True:
            yield X[:5], Y[:5]

    model.fit_generator(batches(), steps_per_epoch=2, epochs=1, verbose=0,
                        validation_data=(X, Y))
    # One forced call (fit_generator); its validation went through evaluate unforced,
    # and the outer capture still saw all 10 validation samples.
    assert forced.calls == 1 and forced.problems == []
    assert forced.entries == 2  # evaluated with the training batch size, 5


def test_capture_log_reports_wrong_batch_and_sample_counts():
    log = forcing.CaptureLog()
    captured = keras_getpredict.GtsAndPreds(['y'], [np.zeros((4, 1))] * 2,
                                            [np.zeros((4, 1))] * 2)
    log.check(captured, 'evaluate', batches=3, samples=10)
    assert log.problems == ['evaluate: 2 entries for 3 batches',
                            'evaluate: entries hold 8 samples, expected 10']
    log.reset()
    log.check_targets(captured, 'evaluate', np.ones((8, 1)), ['y'])
    assert log.problems == ['evaluate: y_true of output 0 is not the y passed in']


def test_capture_log_reports_predictions_that_are_not_the_models(installed):
    model = _model()
    log = forcing.CaptureLog()
    right = keras_getpredict.GtsAndPreds(
        ['y'], [Y[:5], Y[5:]], [X[:5].dot([[1.], [2.]]), X[5:].dot([[1.], [2.]])])
    log.check_predictions(right, 'evaluate', model, X, 5)
    assert log.problems == [] and log.predictions_checked == 1
    shifted = keras_getpredict.GtsAndPreds(['y'], right['y_true'], right['y_pred'][::-1])
    log.check_predictions(shifted, 'evaluate', model, X, 5)
    assert log.problems == ['evaluate: y_pred of output 0 differs from predict()']


def test_uninstall_forcing_restores_the_patched_methods(installed):
    before = {name: vars(keras.Model)[name] for name in
              ('fit', 'fit_generator', 'evaluate', 'evaluate_generator')}
    forcing.install_forcing()
    forcing.install_forcing()  # twice never stacks
    assert vars(keras.Model)['fit'].__wrapped__ is before['fit']
    forcing.uninstall_forcing()
    assert {name: vars(keras.Model)[name] for name in before} == before
