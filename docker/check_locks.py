"""Checks that each Docker lock agrees with constraints.txt and setup.py for its image.

Usage: python docker/check_locks.py

A lock (docker/IMAGE.lock, written by docker/lock.sh) must pin every package that
constraints.txt pins for that Python to the same version, hold at least one hash per
pin, and carry no pin whose marker is false for that Python (pip would skip it). It must
also hold every requirement of setup.py's `install_requires` and of the image's extras,
but those the image itself provides. A lock that fails here was not regenerated after
constraints.txt, setup.py or docker/IMAGE.in changed.
"""
from __future__ import print_function

import ast
import os
import re
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = os.path.dirname(os.path.abspath(__file__))
#: lock name -> the Python of its image.
LOCKS = {'cuda10': '3.6', 'ngc': '3.8'}
#: lock name -> the extras its image installs (the Dockerfiles install the package itself
#: with --no-deps, so the lock must hold its requirements).
EXTRAS = {'cuda10': ('gpu', 'keras', 'metrics'), 'ngc': ('gpu', 'keras', 'metrics')}
#: lock name -> the developer requirement files (dev-requirements/) its image runs tests/ with.
TOOLS = {'cuda10': ('test',), 'ngc': ('test',)}
#: lock name -> requirements its base image provides (NVIDIA's TensorFlow build and what
#: it was built against).
PROVIDED = {'cuda10': (), 'ngc': ('tensorflow-gpu', 'numpy', 'protobuf')}


def environment(python_version):
    return {'python_version': python_version, 'python_full_version': python_version + '.0',
            'sys_platform': 'linux', 'platform_system': 'Linux', 'os_name': 'posix',
            'implementation_name': 'cpython', 'platform_python_implementation': 'CPython',
            'platform_machine': 'x86_64', 'extra': ''}


def applies(requirement, env):
    return requirement.marker is None or requirement.marker.evaluate(env)


def read_constraints(path, env):
    pins = {}
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            requirement = Requirement(line)
            if applies(requirement, env):
                pins[canonicalize_name(requirement.name)] = str(requirement.specifier)
    return pins


def read_lock(path):
    """Returns `{name: (Requirement, number of hashes)}`."""
    with open(path) as f:
        text = f.read()
    # Join continuation lines: `name==1.0 ; marker \` + `--hash=...` lines.
    entries = re.sub(r'\\\n', ' ', text).splitlines()
    pins = {}
    for entry in entries:
        entry = entry.split('#', 1)[0].strip()
        if not entry:
            continue
        hashes = re.findall(r'--hash=sha256:[0-9a-f]{64}', entry)
        requirement = Requirement(re.sub(r'\s--hash=\S+', '', entry).strip())
        pins[canonicalize_name(requirement.name)] = (requirement, len(hashes))
    return pins


def read_setup_requirements(path):
    """Returns `(install_requires, extras_require)` from the literal lists in setup.py."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'setup':
            keywords = {k.arg: k.value for k in node.keywords}
            return (ast.literal_eval(keywords['install_requires']),
                    ast.literal_eval(keywords['extras_require']))
    raise ValueError('%s: no setup(...) call' % path)


def read_requirement_names(path):
    """The requirement lines of a dev-requirements/ file."""
    with open(path) as f:
        return [line.split('#', 1)[0].strip() for line in f
                if line.split('#', 1)[0].strip()]


def missing_requirements(lock_name, lock, setup_path):
    install_requires, extras = read_setup_requirements(setup_path)
    wanted = list(install_requires)
    for extra in EXTRAS[lock_name]:
        wanted.extend(extras[extra])
    for tool in TOOLS[lock_name]:
        wanted.extend(read_requirement_names(
            os.path.join(HERE, '..', 'dev-requirements', tool + '.txt')))
    provided = {canonicalize_name(n) for n in PROVIDED[lock_name]}
    found = []
    for line in wanted:
        name = canonicalize_name(Requirement(line).name)
        if name not in lock and name not in provided:
            found.append('%s: setup.py requires %s (extras %s), but the lock has no %s'
                         % (lock_name, line, ','.join(EXTRAS[lock_name]), name))
    return found


def problems(lock_name, python_version, constraints_path, setup_path):
    env = environment(python_version)
    constraints = read_constraints(constraints_path, env)
    lock = read_lock(os.path.join(HERE, lock_name + '.lock'))
    found = []
    for name, (requirement, hashes) in sorted(lock.items()):
        if not applies(requirement, env):
            found.append('%s: marker of %s is false for Python %s'
                         % (lock_name, requirement, python_version))
        if not hashes:
            found.append('%s: %s has no hash' % (lock_name, requirement))
        wanted = constraints.get(name)
        if wanted and str(requirement.specifier) != wanted:
            found.append('%s: %s%s, but constraints.txt pins %s%s for Python %s'
                         % (lock_name, name, requirement.specifier, name, wanted, python_version))
    return found + missing_requirements(lock_name, lock, setup_path)


def main():
    constraints_path = os.path.join(HERE, '..', 'constraints.txt')
    setup_path = os.path.join(HERE, '..', 'setup.py')
    found = []
    for lock_name, python_version in sorted(LOCKS.items()):
        found.extend(problems(lock_name, python_version, constraints_path, setup_path))
    for problem in found:
        print('ERROR: docker/' + problem)
    if found:
        print('Regenerate with docker/lock.sh cuda10|ngc.')
        return 1
    print('check_locks: %s agree with constraints.txt and setup.py.'
          % ', '.join('docker/%s.lock' % n for n in sorted(LOCKS)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
