"""The test matrix as nox sessions.

    nox -l                 every session, with what it runs
    nox -s test            tests/ on the default cell (`make test`)
    nox -s test -- tests/core/test_alignment.py -k order     pytest arguments of your own
    nox -t ci              every tier (`make ci` builds the environments two at a time first)

A *cell* is what an environment holds: Python, TensorFlow and Keras (the table `CELLS`),
and beside it the tools a session needs (dev-requirements/). Each session runs in an
environment of its own, built on first use and kept until what it was built from changes
(a stamp of the merged constraints, setup.py and the requirement files). Adding a
TensorFlow or Keras release is one file in constraints/ and one line in `CELLS` and
`MATRIX` (docs/testing.md shows the diff).

Why nox: its sessions are plain Python, so the matrix is a table and each tier a short
function; its `venv` backend makes Python 3.6 environments, which tox 4 cannot (its
virtualenv >= 20.22 no longer creates them); it reuses environments, runs independent
sessions in parallel (`-j`) and prints each session's time.
"""
import collections
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile

import nox

ROOT = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(ROOT, '.cache')
DIST = os.path.join(CACHE, 'dist')

nox.options.default_venv_backend = 'venv'
nox.options.reuse_venv = 'yes'
nox.options.sessions = ['test']
nox.options.error_on_missing_interpreters = True

#: Quiet TensorFlow; no .pyc files written into the checkout.
ENV = {'TF_CPP_MIN_LOG_LEVEL': '2', 'PYTHONDONTWRITEBYTECODE': '1'}
PIP = ('--disable-pip-version-check', '-q')
PYTEST = ('-m', 'pytest', '-p', 'no:cacheprovider')
#: Horovod compiles against the TensorFlow already in the environment (so no build
#: isolation); -j1 keeps the machine usable, and pip caches the wheel for the next build.
HOROVOD_BUILD_ENV = {
    'HOROVOD_WITH_TENSORFLOW': '1', 'HOROVOD_WITH_GLOO': '1', 'HOROVOD_WITHOUT_MPI': '1',
    'HOROVOD_WITHOUT_PYTORCH': '1', 'HOROVOD_WITHOUT_MXNET': '1', 'MAKEFLAGS': '-j1'}
#: Developer requirement files whose packages compile against the environment (after the
#: rest, without build isolation).
COMPILED_TOOLS = ('retinanet',)


# --- The cells -------------------------------------------------------------------------
Cell = collections.namedtuple('Cell', [
    'python',       # '3.7' or '3.6'
    'constraints',  # files in constraints/ whose lines replace constraints.txt's lines
                    # for the same packages (`merged_constraints`)
    'extras',       # the package's own extras: what a user of that stack installs
    'horovod',      # Horovod built into it (last: it compiles against TensorFlow)
    'fork',         # the Keras fork's wheel (patches/) instead of PyPI's Keras 2.2.4
])


def cell(python='3.7', constraints=(), extras=('cpu', 'keras', 'metrics'), horovod=False,
         fork=False):
    return Cell(python, tuple(constraints), tuple(extras), horovod, fork)


CELLS = {
    # TensorFlow 1.15.5 + Keras 2.2.4 (constraints.txt): the default.
    'keras-2.2.4': cell(),
    'py36': cell(python='3.6'),
    'fork': cell(fork=True),
    'horovod': cell(horovod=True),
    'horovod-fork': cell(horovod=True, fork=True),
    'libraries': cell(constraints=['libraries.txt']),
    # tf.keras 1.15 alone: no standalone Keras installed, so whatever imports it fails.
    'tf.keras': cell(extras=('cpu', 'metrics')),
    # The Keras versions on TensorFlow 1.15 (docs/versions.md).
    'keras-2.1.6': cell(constraints=['keras-2.1.6.txt'], horovod=True),
    'keras-2.2.5': cell(constraints=['keras-2.2.5.txt'], horovod=True),
    'keras-2.3.1': cell(constraints=['keras-2.3.1.txt'], horovod=True),
    # TensorFlow 1.13 and 1.14 (Python 3.7; no Horovod: docs/versions.md says why).
    'tf-1.14-keras-2.2.4': cell(constraints=['tf-1.14-keras-2.2.4.txt']),
    'tf-1.14-keras-2.2.5': cell(constraints=['tf-1.14-keras-2.2.5.txt']),
    'tf-1.13-keras-2.2.4': cell(constraints=['tf-1.13-keras-2.2.4.txt']),
    'tf-1.13-keras-2.2.5': cell(constraints=['tf-1.13-keras-2.2.5.txt']),
    # TensorFlow 1.12 has wheels for Python 3.6 only.
    'tf-1.12-keras-2.2.4': cell(python='3.6', constraints=['tf-1.12-keras-2.2.4.txt']),
    'tf-1.12-keras-2.1.6': cell(python='3.6', constraints=['tf-1.12-keras-2.1.6.txt']),
}
#: The version matrix: a session per cell running tests/ (with the tools named here
#: beside the test tools) and that Keras' own suite gate (with these arguments).
MATRIX = {
    # mrcnn fails inside itself on Keras 2.3 (docs/versions.md), so not there.
    'keras-2.1.6': {'tools': ('mrcnn',), 'gate': ('--skip-multiprocessing',)},
    # Not mrcnn on 2.2.5: MaskRCNN.train forks its workers, and stock 2.2.5's forked pool
    # workers can hang idle for good here (docs/versions.md).
    'keras-2.2.5': {'tools': (), 'gate': ('--skip-multiprocessing',)},
    'keras-2.3.1': {'tools': (), 'gate': ('--skip-multiprocessing',)},
    'tf-1.14-keras-2.2.4': {'tools': ('mrcnn',), 'gate': ('--skip-multiprocessing',)},
    'tf-1.14-keras-2.2.5': {'tools': (), 'gate': ('--skip-multiprocessing',)},
    'tf-1.13-keras-2.2.4': {'tools': (), 'gate': ('--skip-multiprocessing',)},
    'tf-1.13-keras-2.2.5': {'tools': (), 'gate': ('--skip-multiprocessing',)},
    # tests/ only: Keras' own suite is gated on Python 3.7 (docs/versions.md).
    'tf-1.12-keras-2.2.4': {'tools': (), 'gate': None},
    'tf-1.12-keras-2.1.6': {'tools': (), 'gate': None},
}


# --- Building an environment -----------------------------------------------------------
def find_python(version):
    """The path of a Python `version` ('3.7', '3.6'), as .ci/find-python finds it (on
    PATH if it really starts, else through pyenv); its bare name when there is none, which
    nox then reports missing."""
    found = subprocess.run([os.path.join(ROOT, '.ci', 'find-python')], stdout=subprocess.PIPE,
                           env=dict(os.environ, PY_VERSION=version), universal_newlines=True)
    return found.stdout.strip() if found.returncode == 0 else 'python' + version


PYTHONS = {version: find_python(version) for version in ('3.6', '3.7')}


def requirement_name(line):
    """The normalised name of the package a requirement line names (None for none)."""
    found = re.match(r'\s*([A-Za-z0-9][A-Za-z0-9._-]*)', line.split('#', 1)[0])
    return re.sub(r'[-_.]+', '-', found.group(1)).lower() if found else None


def merged_constraints(name, overrides):
    """constraints.txt with every package an override file names pinned by that file's
    lines instead, written to .cache/constraints/NAME.txt (constraints.txt itself when
    there is no override)."""
    base = os.path.join(ROOT, 'constraints.txt')
    if not overrides:
        return base  # the default cell, and sessions without a cell
    lines = []
    for override in overrides:
        with open(os.path.join(ROOT, 'constraints', override)) as f:
            lines += f.read().splitlines()
    replaced = {requirement_name(line) for line in lines} - {None}
    with open(base) as f:
        kept = [line for line in f.read().splitlines() if requirement_name(line) not in replaced]
    text = '\n'.join(['# Written by noxfile.py from constraints.txt and %s: do not edit.'
                      % ', '.join('constraints/' + o for o in overrides)] + kept + lines) + '\n'
    path = os.path.join(CACHE, 'constraints', name + '.txt')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, 'w') as f:
            f.write(text)
    return path


def files_digest(paths):
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.encode())
        with open(path, 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()


def fork_wheel(session):
    """The fork's wheel (Keras 2.2.4 + patches/series), built by patches/fork.sh with the
    environment's own Python, once per content of patches/."""
    version = subprocess.check_output(['patches/fork.sh', 'version'], cwd=ROOT,
                                      universal_newlines=True).strip()
    wheel = os.path.join(CACHE, 'fork', 'dist', 'Keras-%s-py3-none-any.whl' % version)
    stamp = wheel + '.sha256'
    digest = files_digest(sorted(glob.glob(os.path.join(ROOT, 'patches', '*'))))
    if not (os.path.exists(wheel) and os.path.exists(stamp) and open(stamp).read() == digest):
        session.run_install('patches/fork.sh', 'wheel', external=True,
                            env={'PYTHON': os.path.join(session.bin, 'python')})
        with open(stamp, 'w') as f:
            f.write(digest)
    return wheel


def requirement_files(tools):
    return [os.path.join(ROOT, 'dev-requirements', tool + '.txt') for tool in tools]


def install(session, cell_name, tools=('test',)):
    """Installs cell `cell_name` (None: no package, only the tools) and the developer
    `tools` into the session's environment, unless it holds exactly that already."""
    spec = CELLS.get(cell_name) or cell(extras=())
    constraints = merged_constraints(cell_name, spec.constraints)
    files = requirement_files(t for t in tools if t not in COMPILED_TOOLS)
    compiled = requirement_files(t for t in tools if t in COMPILED_TOOLS)
    stamp_path = os.path.join(session.virtualenv.location, '.keras-getpredict-stamp')
    # A fork cell is rebuilt when patches/ changes (its wheel is built from them).
    patches = sorted(glob.glob(os.path.join(ROOT, 'patches', '*'))) if spec.fork else []
    stamp = json.dumps([cell_name, spec, sorted(tools), files_digest(
        [constraints, os.path.join(ROOT, 'setup.py')] + files + compiled + patches)])
    installed_before = os.path.exists(stamp_path)
    if installed_before and open(stamp_path).read() == stamp:
        return
    pip = PIP + ('-c', constraints)
    # pip, setuptools and wheel first, from the constraints (3.6's bundled pip is too old
    # to read TensorFlow's manylinux2010 wheels).
    session.install(*pip, 'pip')
    session.install(*pip, 'setuptools', 'wheel')
    wheels = [fork_wheel(session)] if spec.fork else []
    requirements = [arg for path in files for arg in ('-r', path)]
    package = ['-e', '.[%s]' % ','.join(spec.extras)] if cell_name else []
    session.install(*pip, *wheels, *requirements, *package)
    if wheels and installed_before:  # pip keeps an installed wheel of the same version
        session.install(*pip, '--force-reinstall', '--no-deps', *wheels)
    later = [arg for path in compiled for arg in ('-r', path)]
    if spec.horovod:
        later += ['-e', '.[%s]' % ','.join(spec.extras + ('horovod',))]
    if later:
        session.install(*pip, '--no-build-isolation', *wheels, *later, env=HOROVOD_BUILD_ENV)
    with open(stamp_path, 'w') as f:
        f.write(stamp)


def on_path(session, env=None):
    """`env` with the environment's bin/ first on PATH (for `horovodrun`)."""
    return dict(env or {}, PATH=session.bin + os.pathsep + os.environ['PATH'])


def pytest(session, *args, env=None):
    session.run('python', *PYTEST, *(session.posargs or args), env=dict(ENV, **(env or {})))


def suite_gate(session, *args):
    session.run('python', '-m', 'keras_suite.run_gate', '--workers', '2', *args, env=ENV)


# --- The tiers -------------------------------------------------------------------------
@nox.session(python=PYTHONS['3.7'], tags=['ci'])
def test(session):
    """tests/ with two workers on the default cell (TensorFlow 1.15.5, Keras 2.2.4)."""
    install(session, 'keras-2.2.4')
    pytest(session, 'tests', '-n', '2')


@nox.session(python=PYTHONS['3.7'], tags=['ci'], allow_parallel=True)
def demo(session):
    """The demo on its embedded data (`keras-getpredict demo`), as a user installs it."""
    install(session, 'keras-2.2.4', tools=())
    session.run('keras-getpredict', 'demo', *session.posargs, env=ENV)


@nox.session(python=PYTHONS['3.7'], tags=['ci'])
def gate(session):
    """Keras 2.2.4's own test suite: stock vs installed vs get_predict forced."""
    install(session, 'keras-2.2.4', tools=('kerassuite',))
    suite_gate(session)


@nox.session(python=PYTHONS['3.6'], tags=['ci'])
def py36(session):
    """tests/ on Python 3.6 (the CUDA 10 image's Python)."""
    install(session, 'py36')
    pytest(session, 'tests', '-n', '2')


@nox.session(python=PYTHONS['3.7'], tags=['ci'])
def fork(session):
    """tests/ against the Keras fork built from patches/ (get_predict built in)."""
    install(session, 'fork')
    session.run('patches/fork.sh', 'check', external=True)
    pytest(session, 'tests', '-n', '2', env={'KERAS_GETPREDICT_MODE': 'fork'})


@nox.session(python=PYTHONS['3.7'], tags=['ci'])
def horovod(session):
    """Real `horovodrun --gloo` jobs (2 and 3 ranks), stock Keras with install()."""
    install(session, 'horovod')
    pytest(session, 'tests', '-m', 'horovod',
           env=on_path(session, {'KERAS_GETPREDICT_MODE': 'monkeypatch'}))


@nox.session(name='horovod-fork', python=PYTHONS['3.7'], tags=['ci'])
def horovod_fork(session):
    """The same Horovod jobs on the fork."""
    install(session, 'horovod-fork')
    pytest(session, 'tests', '-m', 'horovod',
           env=on_path(session, {'KERAS_GETPREDICT_MODE': 'fork'}))


@nox.session(python=PYTHONS['3.7'], tags=['ci'])
def mrcnn(session):
    """matterport's Mask R-CNN (PyPI mrcnn==0.2, unedited) trained on drawn shapes, and
    the AP references (mrcnn, pycocotools)."""
    install(session, 'keras-2.2.4', tools=('test', 'mrcnn'))
    pytest(session, 'tests', '-m', 'mrcnn')


@nox.session(python=PYTHONS['3.7'], tags=['ci'])
def libraries(session):
    """Real Keras libraries as clients, unedited (docs/libraries.md)."""
    install(session, 'libraries', tools=('test', 'libraries', 'retinanet'))
    pytest(session, 'tests', '-m', 'libraries', '-n', '2')


@nox.session(python=PYTHONS['3.7'], tags=['ci'])
def tfkeras(session):
    """tests/ on tf.keras 1.15 models without standalone Keras, then tf.keras' gate."""
    install(session, 'tf.keras', tools=('test', 'kerassuite'))
    pytest(session, 'tests', '-q', '-n', '2', env={'KERAS_GETPREDICT_STACK': 'tf.keras'})
    suite_gate(session, '--suite', 'tf.keras')


@nox.session(name='tfkeras-beside-keras', python=PYTHONS['3.7'], tags=['ci'])
def tfkeras_beside_keras(session):
    """tests/ on tf.keras models beside standalone Keras (both imported and patched)."""
    install(session, 'keras-2.2.4')
    pytest(session, 'tests', '-q', '-n', '2', env={'KERAS_GETPREDICT_STACK': 'tf.keras'})


def matrix_session(name, tools, gate_args):
    def run(session):
        install(session, name, tools=('test',) + (('kerassuite',) if gated else ()) + tools)
        pytest(session, 'tests', '-n', '2', env=on_path(session))
        if gated:
            suite_gate(session, *gate_args)
    gated = gate_args is not None
    run.__doc__ = 'tests/%s on the %s cell.' % (" and Keras' own suite gate" if gated else '',
                                                name)
    nox.session(run, name=name, python=PYTHONS[CELLS[name].python], tags=['ci', 'matrix'])


for _name, _spec in MATRIX.items():
    matrix_session(_name, _spec['tools'], _spec['gate'])


# --- README's version table, made from the tables above ---------------------------------
#: The sessions that run each tier on the cells outside `MATRIX` (a matrix cell's one
#: session runs tests/ and the gate, with Horovod and mrcnn as its tables say).
TIERS = {
    'keras-2.2.4': {'tests': 'test', 'gate': 'gate', 'horovod': 'horovod',
                    'mrcnn': 'mrcnn', 'fork': 'fork'},
    'py36': {'tests': 'py36'},
    'tf.keras': {'tests': 'tfkeras', 'gate': 'tfkeras', 'horovod': 'horovod'},
}
TABLE_BEGIN = '<!-- version table: `nox -s versions` writes it from noxfile.py -->'
TABLE_END = '<!-- end of the version table -->'


def pinned(cell_name, package):
    """The version a cell's constraints pin `package` to (for its Python), read with
    `packaging`, which nox itself requires."""
    from packaging.requirements import Requirement
    spec = CELLS[cell_name]
    environment = {'python_version': spec.python}
    with open(merged_constraints(cell_name, spec.constraints)) as f:
        for line in f:
            if requirement_name(line) != requirement_name(package):
                continue
            requirement = Requirement(line.split('#', 1)[0].strip())
            if requirement.marker is None or requirement.marker.evaluate(environment):
                return next(iter(requirement.specifier)).version
    return None


def version_table():
    """README's version table: a row per cell, a column per tier, each cell the session
    that runs it."""
    tiers = dict(TIERS)
    for name, spec in MATRIX.items():
        tiers[name] = {tier: name for tier, present in (
            ('tests', True), ('gate', spec['gate'] is not None),
            ('horovod', CELLS[name].horovod), ('mrcnn', 'mrcnn' in spec['tools'])) if present}
    rows = []
    for name, runs in tiers.items():
        spec = CELLS[name]
        keras = 'keras' in spec.extras and not spec.fork
        rows.append(((pinned(name, 'tensorflow'), spec.python),
                     [pinned(name, 'tensorflow'), pinned(name, 'keras') if keras else 'tf.keras',
                      spec.python]
                     + [('`%s`' % runs[tier]) if tier in runs else '–'
                        for tier in ('tests', 'gate', 'horovod', 'mrcnn', 'fork')]))
    # Newest TensorFlow first; in each, the Keras releases, then tf.keras.
    rows.sort(key=lambda row: ([-int(p) for p in row[0][0].split('.')],
                               row[1][1] == 'tf.keras', row[1][1], row[0][1]))
    header = ['TensorFlow', 'Keras', 'Python', '`tests/`', "Keras' own suite gate",
              'Horovod jobs', 'Mask R-CNN (`mrcnn==0.2`)', 'the fork']
    lines = ['| %s |' % ' | '.join(header), '|%s' % ('---|' * len(header))]
    lines += ['| %s |' % ' | '.join(cells) for _, cells in rows]
    return '\n'.join([TABLE_BEGIN] + lines + [TABLE_END])


def readme_with_table():
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    begin, end = text.index(TABLE_BEGIN), text.index(TABLE_END) + len(TABLE_END)
    return text, text[:begin] + version_table() + text[end:]


@nox.session(python=False)
def versions(session):
    """Writes README's version table from the matrix (`nox -s lint` checks it)."""
    text, made = readme_with_table()
    if made != text:
        with open(os.path.join(ROOT, 'README.md'), 'w') as f:
            f.write(made)
        session.log('README.md: version table written')


@nox.session(python=PYTHONS['3.7'], tags=['ci'], allow_parallel=True)
def lint(session):
    """flake8, hadolint, the Docker locks and FROM lines, the fork's vendored copy."""
    install(session, None, tools=('lint',))
    session.run('flake8')
    dockerfiles = sorted(glob.glob('docker/Dockerfile.*'))
    session.run('hadolint', *dockerfiles)
    session.run('python', 'docker/check_locks.py')
    session.run('python', 'docker/check_from.py',
                *(['--strict'] if os.environ.get('REQUIRE_DIGESTS') else []), *dockerfiles)
    session.run('patches/fork.sh', 'check', external=True)
    text, made = readme_with_table()
    if made != text:
        session.error('README.md\'s version table is not the matrix of noxfile.py: run '
                      '`nox -s versions`.')


# --- The package as users install it ---------------------------------------------------
@nox.session(tags=['ci'], allow_parallel=True)
def package(session):
    """The sdist and wheel (`python -m build`, into .cache/dist), checked by twine."""
    install(session, None, tools=('package',))
    shutil.rmtree(DIST, ignore_errors=True)
    session.run('python', '-m', 'build', '--outdir', DIST, '.')
    session.run('twine', 'check', '--strict', *glob.glob(os.path.join(DIST, '*')))


def wheel_session(name, extras, example, present, absent=()):
    def run(session):
        wheels = glob.glob(os.path.join(DIST, '*.whl'))
        if len(wheels) != 1:
            session.error('expected one wheel in %s (run `nox -s package`): %s' % (DIST, wheels))
        session.install(*PIP, '-c', 'constraints.txt', 'pip')
        session.install(*PIP, '-c', 'constraints.txt', '%s[%s]' % (wheels[0], extras))
        # Away from the checkout, so the installed package is the one imported.
        with tempfile.TemporaryDirectory() as away:
            with session.chdir(away):
                session.run('python', '-c', 'import keras_getpredict, importlib.util as u; '
                            'assert "site-packages" in keras_getpredict.__file__; '
                            'assert [m for m in %r if u.find_spec(m) is None] == []; '
                            'assert [m for m in %r if u.find_spec(m)] == []'
                            % (present, absent), env=ENV)
                session.run('keras-getpredict', '--help', env=ENV)
                session.run('python', os.path.join(ROOT, 'examples', example), env=ENV)
    run.__doc__ = ('The built wheel[%s] in a fresh environment: %s and the CLI%s.'
                   % (extras, example, ''.join('; no %s' % m for m in absent)))
    nox.session(run, name=name, python=PYTHONS['3.7'], tags=['ci'], reuse_venv=False,
                requires=['package'], allow_parallel=True)


wheel_session('wheel-keras', 'cpu,keras', 'quickstart.py', present=('keras', 'tensorflow'))
# A tf.keras user installs no standalone Keras.
wheel_session('wheel-tf.keras', 'cpu', 'quickstart_tf_keras.py', present=('tensorflow',),
              absent=('keras',))


# --- Benchmarks (not in `make ci`; docs/benchmarks.md) ---------------------------------
def bench_session(name, script, cell_name='keras-2.2.4', tools=(), ranks=None):
    def run(session):
        install(session, cell_name, tools=tools)
        command = ['python', 'benchmarks/' + script] + list(session.posargs)
        if ranks:
            command = ['horovodrun', '--gloo', '-np', str(ranks), '-H',
                       'localhost:%d' % ranks] + command
        session.run(*command, env=on_path(session, ENV))
    run.__doc__ = 'benchmarks/%s (make %s).' % (script, name)
    nox.session(run, name=name, python=PYTHONS['3.7'], tags=['bench'], default=False)


bench_session('bench', 'bench_evaluate.py')
bench_session('bench-batch-predictions', 'bench_batch_predictions.py')
bench_session('bench-horovod', 'bench_horovod_gather.py', cell_name='horovod', ranks=2)
bench_session('bench-mrcnn', 'bench_mask_rcnn.py', tools=('mrcnn',))
bench_session('bench-segmentation', 'bench_segmentation.py')
bench_session('bench-segmentation-floor', 'bench_segmentation_floor.py')
bench_session('profile-segmentation', 'profile_segmentation.py')
