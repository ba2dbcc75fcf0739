"""Keras 2.2.4's own tests as a CI gate: stock, patches installed, get_predict forced.

Fetches the Keras 2.2.4 sdist once into `.cache/` (git-ignored; `patches/keras-sdist.sh`
checks it against `patches/keras-sdists.sha256`), keeps only its
`tests/` folder (so the *installed* keras is the one under test), runs the selected test
files in each mode and compares the outcomes test id by test id. Exits 1 listing the
test ids when anything differs from stock, when the plugin was not in effect, or when
the forced run's capture checks found a problem.

    python -m keras_suite.run_gate [--modes stock,install,force] [--workers 2]
    python -m keras_suite.run_gate --suite tf.keras    # keras_suite/tf_keras/ on tf.keras

TensorFlow's own keras tests are not in its wheel and TensorFlow publishes no source
distribution, so for tf.keras the gate runs the representative set written here
(`keras_suite/tf_keras/`, docs/tf_keras.md section 2), in the same three modes.

Run it in an environment with the suite's tools: `nox -s gate` (Keras 2.2.4), or a cell of
the version matrix (`nox -s keras-2.2.5`, ...).
"""
from __future__ import absolute_import, print_function

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time

from . import compare

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KERAS_VERSION = '2.2.4'
FETCH_SDIST = os.path.join(ROOT, 'patches', 'keras-sdist.sh')

# An entry that is a tuple names where each Keras release keeps the same tests: the
# first that exists in the fetched suite runs (`files_in`).
MAIN_FILES = [
    'tests/keras/engine/test_training.py',
    ('tests/keras/test_callbacks.py',  # <= 2.2.5
     'tests/keras/callbacks'),         # 2.3: callbacks_test.py, tensorboard_test.py
    'tests/keras/engine/test_topology.py',
    'tests/keras/test_sequential_model.py',
    'tests/keras/metrics_test.py',
    'tests/keras/legacy/interface_test.py',
]
# Skipped upstream on the TensorFlow backend (they pass on TF 1.15); run apart from the
# files above, because forking after the TensorBoard tests can deadlock a worker.
MULTIPROCESSING_FILES = [
    'tests/keras/utils/data_utils_test.py',
    'tests/test_multiprocessing.py',
]
# More of the suite for `--extra` (not in the default gate, to keep it short): more fit/
# evaluate paths (masking, temporal sample weights, saving, scikit-learn wrappers). The
# other integration tests download data sets, which CI must not do.
EXTRA_FILES = [
    'tests/test_loss_masking.py',
    'tests/test_loss_weighting.py',
    'tests/test_model_saving.py',
    'tests/test_dynamic_trainability.py',
    'tests/test_model_pickling.py',
    'tests/keras/wrappers/scikit_learn_test.py',
    'tests/integration_tests/test_temporal_data_tasks.py',
    'tests/integration_tests/test_vector_data_tasks.py',
    'tests/integration_tests/test_image_data_tasks.py',
]
# Upstream skipped MULTIPROCESSING_FILES on TensorFlow "until the use_multiprocessing problem
# is solved": a worker forked from a process that runs TensorFlow's threads can deadlock, in
# stock Keras too (seen once in ~20 gate runs, install mode, test_multiprocessing_training_from
# _file). A test of those files whose outcome differs between modes is run once more, alone
# and in every mode; the rerun's outcomes are the ones compared, and the report says so. A
# difference we cause comes back in the rerun and still fails the gate.
MULTIPROCESSING_TIMEOUT = 120  # seconds a test; each passes in under 10 s
MULTIPROCESSING_OPTIONS = ['--lift-tf-skip', '--timeout', str(MULTIPROCESSING_TIMEOUT)]
MODES = ('stock', 'install', 'force')
#: The tf.keras representative set (in this repository, not fetched).
TF_KERAS_FILES = ['keras_suite/tf_keras']


def fetch_sdist(version, python=sys.executable):
    """Returns the path of the checked `Keras-<version>.tar.gz` (`patches/keras-sdist.sh`)."""
    env = dict(os.environ, PYTHON=python)
    return subprocess.check_output([FETCH_SDIST, version], env=env,
                                   universal_newlines=True).strip()


def _installed_keras_version():
    # Without importing keras here: that would import TensorFlow in the gate's process.
    output = subprocess.check_output(
        [sys.executable, '-c', 'import pkg_resources; '
         'print(pkg_resources.get_distribution("keras").version)'])
    return output.decode().strip()


def fetch_tests(cache, python=sys.executable, version=KERAS_VERSION):
    """Returns the folder holding the sdist's `tests/` (and nothing else), fetching it once."""
    suite_dir = os.path.join(cache, 'keras-%s-suite' % version)
    if os.path.isfile(os.path.join(suite_dir, 'tests', 'conftest.py')):
        return suite_dir
    sdist = fetch_sdist(version, python)
    top = 'Keras-%s/' % version
    partial = suite_dir + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(top + 'tests/') and '__pycache__' not in m.name and
                   (m.isfile() or m.isdir())]
        for member in members:
            member.name = member.name[len(top):]
        tar.extractall(partial, members=members)
    shutil.rmtree(suite_dir, ignore_errors=True)
    os.rename(partial, suite_dir)
    return suite_dir


def files_in(suite_dir, entries, required=True):
    """The paths of `entries` (a path, or a tuple of places for the same tests) that
    exist in `suite_dir`'s release. An entry that is not `required` and exists nowhere
    (older releases lack some of EXTRA_FILES, e.g. 2.1.6 has no test_model_pickling.py)
    is left out, saying so.

    # Raises
        RuntimeError: In case a `required` entry exists nowhere in this release.
    """
    files = []
    for entry in entries:
        places = entry if isinstance(entry, tuple) else (entry,)
        found = [p for p in places if os.path.exists(os.path.join(suite_dir, p))]
        if found:
            files.append(found[0])
        elif required:
            raise RuntimeError('keras-suite gate: none of %s in %s'
                               % (', '.join(places), suite_dir))
        else:
            print("keras-suite gate: %s is not in this release's tests; left out"
                  % ', '.join(places))
    return files


def run_tf_keras_gate(modes, args):
    """The tf.keras representative set in each mode, compared with stock."""
    known = compare.load_known(args.known or os.path.join(
        HERE, 'known_stock_failures-tfkeras.txt'))
    results_dir = os.path.join(args.cache, 'tf-keras-suite-results')
    shutil.rmtree(results_dir, ignore_errors=True)
    started = time.time()
    runs = {}
    for mode in modes:
        path = os.path.join(results_dir, mode + '.json')
        run_pytest(sys.executable, ROOT, TF_KERAS_FILES, mode, path, args.workers,
                   extra=['--getpredict-target', 'tf.keras'])
        if not os.path.isfile(path):
            print('tf.keras gate: pytest wrote no outcomes (%s)' % path)
            return 1
        runs[mode] = compare.load_run([path])
    return verdict(runs, known, 'tf.keras suite gate', 'tf.keras gate', 'stock tf.keras',
                   started)


def run_pytest(python, suite_dir, files, mode, out, workers, extra=()):
    """One fresh pytest process over `files`; returns its exit status."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    env.setdefault('KERAS_BACKEND', 'tensorflow')
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    env.setdefault('MPLBACKEND', 'Agg')
    command = [python, '-m', 'pytest', '-c', os.path.join(HERE, 'pytest.ini'),
               '--rootdir', suite_dir, '-p', 'keras_suite.keras_getpredict_testplugin',
               '-p', 'no:cacheprovider', '--getpredict', mode, '--outcomes-json', out,
               '-q', '-rfE', '--no-header', '--tb=short']
    if workers:
        command += ['-n', str(workers)]
    command += list(extra) + list(files)
    print('$ ' + ' '.join(command), flush=True)
    return subprocess.call(command, cwd=suite_dir, env=env)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--modes', default=','.join(MODES))
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--cache', default=os.path.join(ROOT, '.cache'))
    parser.add_argument('--keras-version', default=None,
                        help="the installed Keras' version (default); its sdist's tests run")
    parser.add_argument('--known', default=None,
                        help='known stock failures (default: known_stock_failures.txt, '
                             'or known_stock_failures-VERSION.txt for other versions)')
    parser.add_argument('--skip-multiprocessing', action='store_true')
    parser.add_argument('--extra', action='store_true',
                        help='also run EXTRA_FILES with the main files')
    parser.add_argument('--suite', choices=('keras', 'tf.keras'), default='keras',
                        help="standalone Keras' own tests (default), or the tf.keras set")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(',') if m]
    if 'stock' not in modes or any(m not in MODES for m in modes):
        parser.error('--modes: stock plus any of install, force')

    if args.suite == 'tf.keras':
        return run_tf_keras_gate(modes, args)
    version = args.keras_version or _installed_keras_version()
    known_file = args.known or os.path.join(HERE, 'known_stock_failures.txt' if version ==
                                            KERAS_VERSION else
                                            'known_stock_failures-%s.txt' % version)
    known = compare.load_known(known_file)
    suite_dir = fetch_tests(args.cache, version=version)
    results_dir = os.path.join(args.cache, 'keras-suite-results')
    shutil.rmtree(results_dir, ignore_errors=True)
    started = time.time()
    runs = {}
    for mode in modes:
        paths = [os.path.join(results_dir, mode + '-main.json')]
        files = files_in(suite_dir, MAIN_FILES) + (
            files_in(suite_dir, EXTRA_FILES, required=False) if args.extra else [])
        run_pytest(sys.executable, suite_dir, files, mode, paths[0], args.workers)
        if not args.skip_multiprocessing:
            paths.append(os.path.join(results_dir, mode + '-multiprocessing.json'))
            run_pytest(sys.executable, suite_dir, files_in(suite_dir, MULTIPROCESSING_FILES),
                       mode, paths[1], args.workers, extra=MULTIPROCESSING_OPTIONS)
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            print('keras-suite gate: pytest wrote no outcomes (%s)' % ', '.join(missing))
            return 1
        runs[mode] = compare.load_run(paths)

    reruns = rerun_multiprocessing_differences(runs, known, suite_dir, results_dir)
    return verdict(runs, known, 'keras %s suite gate' % version, 'keras-suite gate',
                   'stock Keras', started, reruns)


def rerun_multiprocessing_differences(runs, known, suite_dir, results_dir):
    """Runs each multiprocessing-file test whose outcome differs between modes once more,
    alone, in every mode, and puts the rerun's records in `runs` (see MULTIPROCESSING_TIMEOUT).

    # Returns
        A list of `(test id, {mode: first outcome}, {mode: first failure message})`.
    """
    prefixes = tuple(f + '::' for f in files_in(suite_dir, MULTIPROCESSING_FILES))
    differing = [(test_id, outcomes)
                 for test_id, outcomes in compare.compare(runs, known)['differences']
                 if test_id.startswith(prefixes)]
    if not differing:
        return []
    print('keras-suite gate: running %d multiprocessing test(s) again, alone, in every mode: %s'
          % (len(differing), ', '.join(test_id for test_id, _ in differing)), flush=True)
    ids = [test_id for test_id, _ in differing]
    reruns = [(test_id, outcomes,
               {m: r['tests'].get(test_id, {}).get('message', '') for m, r in runs.items()})
              for test_id, outcomes in differing]
    for mode in runs:
        path = os.path.join(results_dir, mode + '-rerun.json')
        run_pytest(sys.executable, suite_dir, ids, mode, path, 0, extra=MULTIPROCESSING_OPTIONS)
        rerun = compare.load_run([path]) if os.path.isfile(path) else {'tests': {}}
        for test_id in ids:
            runs[mode]['tests'][test_id] = rerun['tests'].get(test_id, {'outcome': 'missing'})
    return reruns


def verdict(runs, known, title, gate, stock, started, reruns=()):
    """Compares the modes' outcomes, prints the report; the exit status."""
    result = compare.compare(runs, known)
    print('\n== %s (%.0f s) ==' % (title, time.time() - started))
    for line in compare.report(result, runs):
        print(line)
    for test_id, first, messages in reruns:
        now = {m: runs[m]['tests'][test_id].get('outcome', 'missing') for m in first}
        print('ran again: %s  first %s (%s); again %s' % (
            test_id, compare.fmt(first),
            '; '.join('%s: %s' % (m, text) for m, text in messages.items() if text),
            compare.fmt(now)))
    problems = compare.failures(result, runs)
    if problems:
        print('\n%s FAILED:' % gate)
        for line in problems:
            print('  ' + line)
        return 1
    print('%s passed: every test has the same outcome as on %s.' % (gate, stock))
    return 0


if __name__ == '__main__':
    sys.exit(main())
