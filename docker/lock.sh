#!/usr/bin/env bash
# Compile docker/IMAGE.in into docker/IMAGE.lock: every pin from constraints.txt, every
# file's sha256 (pip-compile --generate-hashes), for the image's own Python, so the
# Dockerfiles can install with `pip install --require-hashes`.
#
#   docker/lock.sh cuda10     # Python 3.6 (tensorflow/tensorflow:1.15.5-gpu-py3)
#   docker/lock.sh ngc        # Python 3.8 (nvcr.io/nvidia/tensorflow:23.03-tf1-py3), no TF
#
# Run it after changing constraints.txt; `make lint` fails while a lock's pins
# disagree with constraints.txt. pip-compile runs in a venv of the image's Python under
# .cache/lock/ (pip-tools pinned in constraints.txt), so markers resolve as in the image.
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:-}"
case "$image" in
    # pip-tools 6.4 is the last for Python 3.6; --allow-unsafe pins setuptools/wheel too.
    cuda10) py=3.6; extra=(--allow-unsafe) ;;
    # NVIDIA built its TensorFlow against the image's numpy (and setuptools): keep those.
    ngc) py=3.8; extra=(--resolver=backtracking --unsafe-package numpy) ;;
    *) echo "usage: docker/lock.sh cuda10|ngc" >&2; exit 2 ;;
esac
venv=".cache/lock/py$py"
if [ ! -x "$venv/bin/pip-compile" ]; then
    rm -rf "$venv"
    "$(PY_VERSION=$py .ci/find-python)" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -c constraints.txt pip
    "$venv/bin/pip" install -q --disable-pip-version-check -c constraints.txt pip-tools
fi
# pip-compile writes paths relative to the output file's folder.
cd docker
# PyPI only, as the images see it: no machine-local pip config, find-links or indexes
# (a local index without Requires-Python data makes the 3.6 resolver pick 3.10-only releases).
PIP_CONFIG_FILE=/dev/null env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL \
    "../$venv/bin/pip-compile" -q --generate-hashes --no-emit-index-url --no-emit-find-links \
    --strip-extras "${extra[@]}" \
    --output-file "$image.lock" "$image.in"
echo "docker/lock.sh: wrote docker/$image.lock"
