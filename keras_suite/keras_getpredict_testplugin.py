"""pytest plugin for running Keras 2.2.4's own test suite against keras-getpredict.

Loaded with `-p keras_suite.keras_getpredict_testplugin` (the repository root on
PYTHONPATH). pytest-xdist
workers get the same command line, so the plugin is configured in every process that
runs tests.

Options:
    --getpredict=stock    Keras untouched; keras_getpredict is not even imported.
    --getpredict=install  `keras_getpredict.install()` in every process.
    --getpredict=force    installed, and `get_predict=True` forced on every
                          fit/fit_generator/evaluate/evaluate_generator call that has
                          validation or evaluation data (see forcing.py).
    --getpredict-target=keras|tf.keras
                          the stack to install and force (default: `install()`'s
                          choice, and forcing on standalone Keras).
    --outcomes-json=PATH  one outcome per test id, written by the controlling process.
    --lift-tf-skip        drop upstream's "skip on the TensorFlow backend" mark of the
                          multiprocessing test files (they pass on TF 1.15).
"""
from __future__ import absolute_import

import json
import os
import sys
import time

import pytest

MODES = ('stock', 'install', 'force')
#: The reason of the module-level skipif that upstream put on the multiprocessing files.
UPSTREAM_TF_SKIP_REASON = 'Temporarily disabled until the use_multiprocessing problem is solved'
PROPERTY = 'keras_getpredict'


def pytest_addoption(parser):
    group = parser.getgroup('keras_getpredict', 'keras-getpredict gate over Keras\' own tests')
    group.addoption('--getpredict', choices=MODES, default='stock',
                    help='stock Keras, patches installed, or get_predict forced on.')
    group.addoption('--getpredict-target', choices=('keras', 'tf.keras'), default=None,
                    help='the Keras stack to install keras-getpredict for and to force.')
    group.addoption('--outcomes-json', default=None, metavar='PATH',
                    help='write one outcome per test id to PATH (JSON).')
    group.addoption('--lift-tf-skip', action='store_true', default=False,
                    help='lift upstream\'s TensorFlow-backend skip of the '
                         'multiprocessing test files.')


def _is_worker(config):
    return hasattr(config, 'workerinput')


def pytest_configure(config):
    mode = config.getoption('getpredict')
    target = config.getoption('getpredict_target')
    if mode != 'stock':
        import keras_getpredict
        if target is None:
            keras_getpredict.install()
        else:
            keras_getpredict.install(target=target)
        if mode == 'force':
            from keras_suite import forcing
            forcing.install_forcing(target=target or 'keras')
    path = config.getoption('outcomes_json')
    if path and not _is_worker(config):
        config.pluginmanager.register(OutcomeRecorder(config, path), 'keras_getpredict_outcomes')


def lift_tf_skip(items):
    """Removes upstream's TF-backend skipif from the items' module nodes. Returns how many
    module marks were removed."""
    lifted = set()
    for item in items:
        for node in item.listchain():
            kept = [m for m in node.own_markers
                    if not (m.name == 'skipif' and
                            m.kwargs.get('reason') == UPSTREAM_TF_SKIP_REASON)]
            if len(kept) != len(node.own_markers):
                lifted.add(node.nodeid)
                node.own_markers[:] = kept
    return sorted(lifted)


def pytest_collection_modifyitems(session, config, items):
    if config.getoption('lift_tf_skip'):
        lift_tf_skip(items)


def _state(mode):
    """What is in effect in this process right now."""
    if mode == 'stock':
        return {'mode': mode, 'installed': 'keras_getpredict' in sys.modules and
                sys.modules['keras_getpredict'].is_installed()}
    import keras_getpredict
    state = {'mode': mode, 'installed': keras_getpredict.is_installed()}
    if mode == 'force':
        from keras_suite import forcing
        state['forcing'] = forcing.is_forcing()
    return state


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    mode = item.config.getoption('getpredict')
    log = None
    if mode == 'force':
        from keras_suite import forcing
        log = forcing.LOG
        log.reset()
    state = _state(mode)
    yield
    if log is not None:
        state.update(log.as_dict())
        log.reset()
    item.user_properties.append((PROPERTY, state))


def outcome_of(report):
    """The outcome one phase report contributes: passed/failed/skipped/error/xfailed/xpassed."""
    if hasattr(report, 'wasxfail'):
        return 'xfailed' if report.skipped else 'xpassed'
    if report.when != 'call' and report.failed:
        return 'error'
    return report.outcome


def _short_message(report):
    text = getattr(report, 'longreprtext', '') or ''
    lines = [line for line in text.splitlines() if line.startswith('E ')]
    line = lines[0] if lines else (text.strip().splitlines() or [''])[-1]
    return line[:300]


class OutcomeRecorder(object):
    """In the controlling process: folds the phase reports into one outcome per test id."""

    def __init__(self, config, path):
        self.config = config
        self.path = path
        self.tests = {}
        self.started = time.time()

    def pytest_runtest_logreport(self, report):
        record = self.tests.setdefault(report.nodeid, {'outcome': 'passed'})
        outcome = outcome_of(report)
        if report.when == 'call' or outcome == 'error':
            record['outcome'] = outcome
        elif report.when == 'setup' and outcome in ('skipped', 'xfailed'):
            record['outcome'] = outcome
        if report.failed and 'message' not in record:
            record['message'] = '%s: %s' % (report.when, _short_message(report))
        for name, value in report.user_properties:
            if name == PROPERTY:
                record[PROPERTY] = value

    def pytest_sessionfinish(self, session, exitstatus):
        keras = sys.modules.get('keras')  # under xdist only the workers import it
        meta = {
            'mode': self.config.getoption('getpredict'),
            'keras_version': getattr(keras, '__version__', None),
            'keras_file': getattr(keras, '__file__', None),
            'seconds': round(time.time() - self.started, 1),
            'exitstatus': int(exitstatus),
        }
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            os.makedirs(directory)
        with open(self.path, 'w') as f:
            json.dump({'meta': meta, 'tests': self.tests}, f, indent=1, sort_keys=True)
