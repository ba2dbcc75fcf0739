"""Reports every `FROM` in the Dockerfiles that is not pinned by digest (`name:tag@sha256:...`).

Usage: python docker/check_from.py [--strict] Dockerfile...

Without `--strict` an unpinned FROM is a warning (exit 0): on machines with no registry
(ours) the digest can never be resolved, and `docker/pin-digests.sh` writes it where one
is reachable. With `--strict` (used by docker/run-tests.sh before it builds) it is an
error (exit 1). A FROM that names an earlier build stage needs no digest.
"""
from __future__ import print_function

import argparse
import re
import sys

from dockerfile_parse import DockerfileParser

DIGEST = re.compile(r'@sha256:[0-9a-f]{64}$')


def unpinned_froms(path):
    """Returns `(line number, image)` for each FROM of `path` without a digest."""
    with open(path, 'rb') as f:
        # fileobj: `path=` would take a name not ending in "Dockerfile" for a folder.
        parser = DockerfileParser(fileobj=f)
        structure = parser.structure
    stages = set()
    found = []
    for instruction in structure:
        if instruction['instruction'] != 'FROM':
            continue
        words = [w for w in instruction['value'].split() if not w.startswith('--')]
        image = words[0]
        if len(words) >= 3 and words[1].lower() == 'as':
            stages.add(words[2].lower())
        if image.lower() in stages or image == 'scratch':
            continue
        if not DIGEST.search(image):
            found.append((instruction['startline'] + 1, image))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--strict', action='store_true',
                        help='fail (exit 1) on a FROM without a digest')
    parser.add_argument('dockerfiles', nargs='+')
    args = parser.parse_args(argv)
    level = 'ERROR' if args.strict else 'WARNING'
    count = 0
    for path in args.dockerfiles:
        for line, image in unpinned_froms(path):
            count += 1
            print('%s: %s:%d: FROM %s has no digest; run docker/pin-digests.sh where '
                  'the registry is reachable.' % (level, path, line, image))
    if not count:
        print('check_from: every FROM is pinned by digest (%d file(s)).' % len(args.dockerfiles))
    return 1 if count and args.strict else 0


if __name__ == '__main__':
    sys.exit(main())
