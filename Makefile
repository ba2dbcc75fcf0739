# Two commands on a fresh machine: `make demo` (the main job) and `make test` (tests/, the
# inner loop); `make ci` runs every tier, as CI does. Each is a thin call to nox
# (noxfile.py: the test matrix, one environment per cell, built once and reused until
# what it was built from changes). Only nox itself is installed here, with the machine's
# python3; nox finds Python 3.7 and 3.6 on PATH or through pyenv.
SHELL := /bin/bash
NOX_VENV = .venv-nox
NOX = $(NOX_VENV)/bin/nox

.PHONY: demo test lint ci package bench bench-batch-predictions bench-horovod bench-mrcnn
.PHONY: bench-segmentation bench-segmentation-floor profile-segmentation clean

$(NOX): dev-requirements/runner.txt
	rm -rf $(NOX_VENV)
	python3 -m venv $(NOX_VENV)
	$(NOX_VENV)/bin/pip install --disable-pip-version-check -q -r dev-requirements/runner.txt
	touch $@

demo: $(NOX)
	$(NOX) -s demo

test: $(NOX)
	$(NOX) -s test

lint: $(NOX)
	$(NOX) -s lint

package: $(NOX)
	$(NOX) -s package

# Every tier: first the sessions' environments, two at a time (pip's cache makes that mostly
# I/O; the package and its wheel checks build theirs when they run), then every `ci`
# session: each uses both cores, so one at a time, but for the light ones (lint, demo,
# the package) beside them. nox runs every session even after one failed, prints each
# one's time, and fails if any did.
ci: $(NOX)
	$(NOX) -t ci -k "not package and not wheel" -j 2 --allow-parallel --install-only
	$(NOX) -t ci -j 2

clean:
	rm -rf .nox $(NOX_VENV) .cache build dist *.egg-info

# --- Benchmarks (not part of `make ci`; docs/benchmarks.md) ------------------------------
# BENCH_ARGS are passed on (e.g. BENCH_ARGS=--memory-scan for bench-segmentation).
BENCH_ARGS ?=
bench bench-batch-predictions bench-horovod bench-mrcnn bench-segmentation \
bench-segmentation-floor profile-segmentation: $(NOX)
	$(NOX) -s $@ -- $(BENCH_ARGS)
