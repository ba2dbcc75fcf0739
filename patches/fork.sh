#!/usr/bin/env bash
# The Keras 2.2.4 fork with native `get_predict`: the PyPI sdist plus the patches in
# `patches/series`, built as the wheel `Keras-2.2.4+getpredict.N`.
#
#   patches/fork.sh fetch          fetch the sdist (patches/keras-sdist.sh), check its sha256
#   patches/fork.sh apply DIR      fresh sdist tree in DIR with the series applied (no fuzz, no offset)
#   patches/fork.sh wheel          build the wheel into .cache/fork/dist; prints its path
#   patches/fork.sh check          the vendored modules in 0002 equal keras_getpredict's
#   patches/fork.sh vendor         rewrite 0002 from keras_getpredict's modules
#   patches/fork.sh refresh        rewrite 0001 from an edited tree in .cache/fork/work
#   patches/fork.sh version        print FORK_VERSION (the Makefile names the wheel with it)
#
# PYTHON (default .nox/test/bin/python) runs pip; it needs `wheel` and `setuptools`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="$ROOT/.cache/fork"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
KERAS_VERSION=2.2.4
SDIST=""  # set by fetch
# The series' local version label, and the one place the build reads it from (the
# Makefile derives the wheel's name from this line): bump it with the setup.py hunk in
# 0001 and FORK_VERSION in keras/getpredict/__init__.py whenever the series changes behaviour.
FORK_VERSION=2.2.4+getpredict.3
# Files the hand-written patch touches; the vendored copies are generated.
EDITED="keras/engine/training.py keras/engine/training_arrays.py
keras/engine/training_generator.py keras/callbacks.py keras/getpredict/__init__.py setup.py"
# Vendored: every module of keras_getpredict/core (families/ included) but its __init__.py
# and the tf.keras family, which the fork (standalone Keras 2.2.4) never runs.
CORE="$ROOT/keras_getpredict/core"
NOT_VENDORED="__init__.py families/tf_keras.py"

die() { echo "fork.sh: $*" >&2; exit 1; }

fetch() {
    SDIST="$(PYTHON="$PYTHON" "$ROOT/patches/keras-sdist.sh" "$KERAS_VERSION")"
}

# extract DIR: a pristine Keras-2.2.4 tree at DIR/Keras-2.2.4
extract() {
    rm -rf "$1/Keras-2.2.4"
    mkdir -p "$1"
    tar xzf "$SDIST" -C "$1"
}

apply_series() {
    local dir="$1" out
    fetch
    extract "$dir"
    while read -r name; do
        case "$name" in ''|'#'*) continue ;; esac
        # --fuzz=0: context must match exactly; an offset also means the patch
        # was made against another tree, so it fails here too.
        if ! out="$(cd "$dir/Keras-2.2.4" && patch -p1 --fuzz=0 --forward --batch \
                    --no-backup-if-mismatch < "$ROOT/patches/$name")"; then
            echo "$out" >&2; die "$name does not apply."
        fi
        if grep -Eq 'offset|fuzz|Reversed' <<<"$out"; then
            echo "$out" >&2; die "$name applies only with an offset or fuzz."
        fi
    done < "$ROOT/patches/series"
}

wheel() {
    local build="$CACHE/build"
    check >&2
    apply_series "$build"
    mkdir -p "$CACHE/dist"
    rm -f "$CACHE/dist/Keras-${FORK_VERSION}-"*.whl
    # No build isolation: setuptools and wheel come from $PYTHON's venv, offline-safe.
    "$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
        -w "$CACHE/dist" "$build/Keras-2.2.4" >&2
    local whl
    whl="$(ls "$CACHE/dist/Keras-${FORK_VERSION}-"*.whl)" \
        || die "no wheel for $FORK_VERSION was built: does the setup.py hunk in 0001 say another version?"
    echo "$whl"
}

# The vendoring patch: keras_getpredict/core's modules as new files of keras/getpredict/.
vendor_patch() {
    local path
    for path in $(cd "$CORE" && find . -name '*.py' -not -path '*/__pycache__/*' \
                  | sed 's|^\./||' | LC_ALL=C sort); do
        case " $NOT_VENDORED " in *" $path "*) continue ;; esac
        diff -uN --label "a/keras/getpredict/$path" --label "b/keras/getpredict/$path" \
            /dev/null "$CORE/$path" || true
    done
}

check() {
    if ! diff -u "$ROOT/patches/0002-vendor-keras-getpredict-core.patch" \
            <(vendor_patch) >/dev/null; then
        die "patches/0002 is out of date with keras_getpredict/core/: run \`patches/fork.sh vendor\` and rebuild the fork."
    fi
    echo "fork.sh: vendored modules in patches/0002 match keras_getpredict."
}

refresh() {
    local work="$CACHE/work/Keras-2.2.4" pristine="$CACHE/pristine"
    [ -d "$work" ] || die "edit a tree at $work first (\`fork.sh apply .cache/fork/work\` gives one)."
    fetch
    extract "$pristine"
    local f
    for f in $EDITED; do
        diff -uN --label "a/$f" --label "b/$f" "$pristine/Keras-2.2.4/$f" "$work/$f" || true
    done > "$ROOT/patches/0001-get-predict-in-training-and-callbacks.patch"
}

case "${1:-}" in
    fetch) fetch; echo "$SDIST" ;;
    apply) [ -n "${2:-}" ] || die "usage: fork.sh apply DIR"; apply_series "$2" ;;
    wheel) wheel ;;
    check) check ;;
    vendor) vendor_patch > "$ROOT/patches/0002-vendor-keras-getpredict-core.patch" ;;
    refresh) refresh ;;
    version) echo "$FORK_VERSION" ;;
    *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
