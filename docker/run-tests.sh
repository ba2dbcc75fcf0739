#!/usr/bin/env bash
# Builds a GPU image and runs the test suite in it on every GPU (`--gpus all`).
#
#   docker/run-tests.sh [cuda10|ngc] [pytest arguments...]
#   docker/run-tests.sh cuda10                 # the whole suite, GPU tests included
#   docker/run-tests.sh ngc -m gpu -v          # only the GPU-vs-CPU tests
#
# Needs Docker with the NVIDIA container toolkit, and the registries (Docker Hub, nvcr.io).
# Before building it pins the base image by digest (docker/pin-digests.sh) and refuses a
# FROM still without one: an image built here is the image that was checked.
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:-cuda10}"
[ $# -eq 0 ] || shift
dockerfile="docker/Dockerfile.$image"
[ -f "$dockerfile" ] || { echo "run-tests.sh: no $dockerfile (cuda10 or ngc)" >&2; exit 2; }
python="${PYTHON:-.venv/bin/python}"

docker/pin-digests.sh "$dockerfile" || true   # reports what it could not resolve
"$python" docker/check_from.py --strict "$dockerfile"

tag="keras-getpredict:$image"
docker build -f "$dockerfile" -t "$tag" .
# `python` is Python 3 in both images; -rs lists skip reasons (a GPU test that skips
# here means TensorFlow saw no GPU).
docker run --rm --gpus all "$tag" python -m pytest tests -p no:cacheprovider -rs "$@"
