#!/usr/bin/env bash
# Fetch the Keras sdist of one release into .cache/keras-sdist (once), check it against
# patches/keras-sdists.sha256, print its path. The fork (patches/fork.sh) and the Keras
# suite gate (keras_suite/run_gate.py) both get their source here.
#
#   patches/keras-sdist.sh VERSION      e.g. 2.2.4
#
# PYTHON (default .nox/test/bin/python) runs `pip download`. A release without a line in
# keras-sdists.sha256 is refused: add its sha256 there first.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
CACHE="$ROOT/.cache/keras-sdist"
SUMS="$ROOT/patches/keras-sdists.sha256"

die() { echo "keras-sdist.sh: $*" >&2; exit 1; }

version="${1:-}"
[ -n "$version" ] || die "usage: keras-sdist.sh VERSION"
name="Keras-$version.tar.gz"
line="$(grep -E "^[0-9a-f]{64}  $name\$" "$SUMS")" || die "no sha256 for $name in $SUMS."
sdist="$CACHE/$name"
mkdir -p "$CACHE"
if [ ! -f "$sdist" ]; then
    # Download beside the cache and move into place only once checked: two builds may
    # fetch the same release at the same time.
    tmp="$(mktemp -d "$CACHE/.download.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps \
        --no-binary :all: "keras==$version" -d "$tmp" >&2
    (cd "$tmp" && sha256sum --check --status <<<"$line") \
        || die "the downloaded $name does not have the sha256 in $SUMS."
    mv -f "$tmp/$name" "$sdist"
fi
(cd "$CACHE" && sha256sum --check --status <<<"$line") \
    || die "$sdist does not have the sha256 in $SUMS; delete it and retry."
echo "$sdist"
