"""Shared fixtures: quiet TensorFlow, a fresh Keras session per test, patches left as found."""
import os
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')
os.environ.setdefault('MPLBACKEND', 'Agg')
os.environ.setdefault('KERAS_GETPREDICT_STRICT', '1')  # analysis errors raise in tests

import contextlib  # noqa: E402
import io  # noqa: E402

import pytest  # noqa: E402

# Keras announces its backend on stderr at import ("Using TensorFlow backend."); under
# xdist that line lands after pytest's summary, so keep it out.
with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
    # TF 1.15 imports emit FutureWarnings about numpy dtypes; they are not ours.
    warnings.simplefilter('ignore', FutureWarning)
    from keras_getpredict.core.families import tf_v1  # noqa: E402 (TF 1.12: no tf.compat.v1)
    tf_v1().logging.set_verbosity(tf_v1().logging.ERROR)
    from support.stack import K, STACK, clear_sessions  # noqa: E402

import keras_getpredict  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests: bounded and reproducible by default, so `make test` stays fast and
# never flaky; HYPOTHESIS_PROFILE=thorough searches wider (random, 20x the cases).
# No example database: nothing written into the checkout.
settings.register_profile('default', max_examples=40, deadline=None, derandomize=True,
                          database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile('thorough', parent=settings.get_profile('default'),
                          max_examples=800, derandomize=False)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'default'))


@pytest.fixture(autouse=True)
def clean_session_and_patches():
    """Each test starts with an empty graph and leaves the patches as it found them."""
    was_installed = keras_getpredict.is_installed()
    clear_sessions()
    yield
    clear_sessions()
    if was_installed:
        keras_getpredict.install()
    else:
        keras_getpredict.uninstall()


@pytest.fixture
def installed():
    keras_getpredict.install()
    yield


# --- Fork mode: the same tests against the Keras fork built from patches/ -----------
# KERAS_GETPREDICT_MODE=fork (set by `nox -s fork`) insists that the imported Keras
# is the fork, =monkeypatch that it is stock; unset, the mode follows what is imported.
# Tests of the run-time patching itself (identity of patched objects, uninstall) carry
# the `monkeypatch_only` marker and are skipped on the fork, where nothing is patched.
FORK_MODE = keras_getpredict.is_native()


def pytest_configure(config):
    wanted = os.environ.get('KERAS_GETPREDICT_MODE', '')
    if wanted not in ('', 'fork', 'monkeypatch'):
        raise pytest.UsageError('KERAS_GETPREDICT_MODE should be `fork` or `monkeypatch`; '
                                'got %r.' % wanted)
    if wanted and wanted != ('fork' if FORK_MODE else 'monkeypatch'):
        raise pytest.UsageError(
            'KERAS_GETPREDICT_MODE=%s, but the imported Keras (%s) is %s.'
            % (wanted, K.__file__, 'the fork' if FORK_MODE else 'stock Keras'))


def pytest_report_header(config):
    stack = 'models from %s' % STACK
    if FORK_MODE:
        return 'keras-getpredict mode: fork (Keras %s); %s' % (
            keras_getpredict.native_version(), stack)
    return 'keras-getpredict mode: monkeypatch (stock Keras); %s' % stack


def pytest_collection_modifyitems(config, items):
    # Markers say what a test needs; what this process cannot give is skipped here
    # (tiers select with `-m`, see pytest.ini).
    skips = []
    if FORK_MODE:
        skips.append(('monkeypatch_only', pytest.mark.skip(
            reason='tests the run-time patching; this Keras is the fork with get_predict '
                   'built in, so nothing is patched')))
    if STACK == 'tf.keras':
        skips.append(('standalone', pytest.mark.skip(
            reason='tests standalone Keras only; the models here are tf.keras')))
    for item in items:
        for marker, skip in skips:
            if item.get_closest_marker(marker):
                item.add_marker(skip)
