"""Checks that each Docker lock agrees with constraints.txt for its image's Python.

Usage: python docker/check_locks.py

A lock (docker/IMAGE.lock, written by docker/lock.sh) must pin every package that
constraints.txt pins for that Python to the same version, hold at least one hash per
pin, and carry no pin whose marker is false for that Python (pip would skip it). A
lock that fails here was not regenerated after constraints.txt changed.
"""
from __future__ import print_function

import os
import re
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = os.path.dirname(os.path.abspath(__file__))
#: lock name -> the Python of its image.
LOCKS = {'cuda10': '3.6', 'ngc': '3.8'}


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


def problems(lock_name, python_version, constraints_path):
    env = environment(python_version)
    constraints = read_constraints(constraints_path, env)
    lock = read_lock(os.path.join(HERE, lock_name + '.lock'))
    found = []
    for name, (requirement, hashes) in sorted(lock.items()):
        if not applies(requirement, env):
            found.append('%s: marker of %s is false for Python %s' % (lock_name, requirement, python_version))
        if not hashes:
            found.append('%s: %s has no hash' % (lock_name, requirement))
        wanted = constraints.get(name)
        if wanted and str(requirement.specifier) != wanted:
            found.append('%s: %s%s, but constraints.txt pins %s%s for Python %s'
                         % (lock_name, name, requirement.specifier, name, wanted, python_version))
    return found


def main():
    constraints_path = os.path.join(HERE, '..', 'constraints.txt')
    found = []
    for lock_name, python_version in sorted(LOCKS.items()):
        found.extend(problems(lock_name, python_version, constraints_path))
    for problem in found:
        print('ERROR: docker/' + problem)
    if found:
        print('Regenerate with docker/lock.sh cuda10|ngc.')
        return 1
    print('check_locks: %s agree with constraints.txt.'
          % ', '.join('docker/%s.lock' % n for n in sorted(LOCKS)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
