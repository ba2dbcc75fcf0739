# Two commands on a fresh machine: `make demo` (the main job) and `make test` (tests/, the
# inner loop). `make ci` runs every tier, as CI does. Each tier builds its own venv on first
# use from the pinned stack in constraints.txt; a stamp keeps it until setup.py or
# constraints.txt change.
SHELL := /bin/bash
PY_VERSION ?= 3.7
export TF_CPP_MIN_LOG_LEVEL = 2
export PYTHONDONTWRITEBYTECODE = 1

PIP_FLAGS = --disable-pip-version-check -q
# Horovod compiles against the TensorFlow already in the venv (so no build isolation);
# -j1 keeps the machine usable, and pip caches the wheel for the next build.
HVD_BUILD_ENV = HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
	HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 MAKEFLAGS=-j1

# The fork's wheel is named after FORK_VERSION in patches/fork.sh.
FORK_VERSION := $(shell patches/fork.sh version)
FORK_WHEEL = .cache/fork/dist/Keras-$(FORK_VERSION)-py3-none-any.whl

comma := ,
# $(call venv,DIR,PYTHON_VERSION,EXTRAS,WHEELS,SECOND_EXTRAS,CONSTRAINTS): DIR/.installed, a venv with
# `-e .[EXTRAS]` and WHEELS (files, also prerequisites). pip, setuptools and wheel come
# first, from constraints.txt (pinned per Python: 3.6's bundled pip is too old).
# SECOND_EXTRAS, if given, are installed afterwards with HVD_BUILD_ENV and no build isolation.
# CONSTRAINTS replaces constraints.txt (the Keras version matrix).
define venv
$(1)/.installed: setup.py constraints.txt $(4) $(6)
	@echo "== building $(1): Python $(2), .[$(3)]$(if $(4), + $(4))$(if $(5), then .[$(5)])"
	rm -rf $(1)
	"$$$$(PY_VERSION=$(2) .ci/find-python)" -m venv $(1)
	$(1)/bin/pip install $(PIP_FLAGS) -c $(or $(6),constraints.txt) pip
	$(1)/bin/pip install $(PIP_FLAGS) -c $(or $(6),constraints.txt) setuptools wheel
	$(1)/bin/pip install $(PIP_FLAGS) -c $(or $(6),constraints.txt) $(4) -e ".[$(3)]"
	$(if $(5),$(HVD_BUILD_ENV) $(1)/bin/pip install $(PIP_FLAGS) -c $(or $(6),constraints.txt) --no-build-isolation $(4) -e ".[$(3)$(comma)$(5)]")
	touch $$@
endef

VENV = .venv
LINT_VENV = .venv-lint
KERAS_SUITE_VENV = .venv-kerassuite
FORK_VENV = .venv-fork
PY36_VENV = .venv-py36
HVD_VENV = .venv-horovod
HVD_FORK_VENV = .venv-horovod-fork
MRCNN_VENV = .venv-mrcnn
LIBRARIES_VENV = .venv-libraries
TEST_EXTRAS = cpu,metrics,test
SUITE_EXTRAS = cpu,metrics,kerassuite

$(eval $(call venv,$(VENV),$(PY_VERSION),$(TEST_EXTRAS)))
$(eval $(call venv,$(LINT_VENV),3.7,docker$(comma)lint))
$(eval $(call venv,$(KERAS_SUITE_VENV),3.7,$(SUITE_EXTRAS)))
$(eval $(call venv,$(FORK_VENV),3.7,$(TEST_EXTRAS),$(FORK_WHEEL)))
$(eval $(call venv,$(PY36_VENV),3.6,$(TEST_EXTRAS)))
$(eval $(call venv,$(HVD_VENV),3.7,$(TEST_EXTRAS),,horovod))
$(eval $(call venv,$(HVD_FORK_VENV),3.7,$(TEST_EXTRAS),$(FORK_WHEEL),horovod))
# matterport's Mask R-CNN (PyPI mrcnn==0.2) with scikit-image and pycocotools.
$(eval $(call venv,$(MRCNN_VENV),3.7,$(TEST_EXTRAS)$(comma)mrcnn))
# Real libraries as clients (make test-libraries), from constraints-libraries.txt merged
# into constraints.txt; keras-retinanet last, its Cython extension compiled against the
# venv's numpy (with build isolation pip compiles it against the newest, and it fails
# to import).
$(eval $(call venv,$(LIBRARIES_VENV),3.7,$(TEST_EXTRAS)$(comma)libraries,,retinanet,.cache/constraints-libraries.txt))
# tf.keras only (issue 20): TensorFlow and the test tools, and keras-getpredict without its
# dependencies, so no standalone `keras` is installed: whatever imports it fails here.
TFKERAS_VENV = .venv-tfkeras
TFKERAS_PACKAGES = tensorflow h5py protobuf numpy scikit-learn matplotlib pytest pytest-xdist \
	pytest-timeout hypothesis requests PyYAML
$(TFKERAS_VENV)/.installed: setup.py constraints.txt
	@echo "== building $(TFKERAS_VENV): Python 3.7, tf.keras only (no standalone keras)"
	rm -rf $(TFKERAS_VENV)
	"$$(PY_VERSION=3.7 .ci/find-python)" -m venv $(TFKERAS_VENV)
	$(TFKERAS_VENV)/bin/pip install $(PIP_FLAGS) -c constraints.txt pip
	$(TFKERAS_VENV)/bin/pip install $(PIP_FLAGS) -c constraints.txt setuptools wheel
	$(TFKERAS_VENV)/bin/pip install $(PIP_FLAGS) -c constraints.txt $(TFKERAS_PACKAGES)
	$(TFKERAS_VENV)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	touch $@
# Built after the stock one, so that it takes Horovod's wheel from pip's cache rather than
# compiling it a second time alongside.
$(HVD_FORK_VENV)/.installed: | $(HVD_VENV)/.installed

# The Keras version matrix (its tiers are at the end).
KERAS_MATRIX = 2.1.6 2.2.5 2.3.1
MATRIX_VENVS = $(addprefix .venv-keras-,$(KERAS_MATRIX))
ALL_VENVS = $(VENV) $(LINT_VENV) $(KERAS_SUITE_VENV) $(FORK_VENV) $(PY36_VENV) $(HVD_VENV) \
	$(HVD_FORK_VENV) $(MRCNN_VENV) $(LIBRARIES_VENV) $(TFKERAS_VENV)
PYTEST = -m pytest -p no:cacheprovider

.PHONY: venv venvs test demo lint test-compat test-fork test-py36 test-horovod
.PHONY: test-horovod-stock test-horovod-fork ci fork-wheel fork-venv horovod-venv
.PHONY: bench bench-batch-predictions bench-horovod clean

venv: $(VENV)/.installed
fork-venv: $(FORK_VENV)/.installed
horovod-venv: $(HVD_VENV)/.installed
venvs: $(addsuffix /.installed,$(ALL_VENVS) $(MATRIX_VENVS))

# --- The tiers -------------------------------------------------------------------------
test: $(VENV)/.installed
	$(VENV)/bin/python $(PYTEST) tests -n 2

demo: $(VENV)/.installed
	$(VENV)/bin/python -m keras_getpredict demo

# flake8 (.flake8), hadolint, the Docker locks against constraints.txt and setup.py's
# extras, FROM digests (a FROM without one is a warning here: no registry is reachable to
# resolve it; REQUIRE_DIGESTS=1 makes it an error, as docker/run-tests.sh does), the
# fork's vendored copy.
DOCKERFILES = docker/Dockerfile.cuda10 docker/Dockerfile.ngc
lint: $(LINT_VENV)/.installed
	$(LINT_VENV)/bin/flake8
	@echo "flake8: clean"
	$(LINT_VENV)/bin/hadolint $(DOCKERFILES)
	@echo "hadolint: $(DOCKERFILES) clean"
	$(LINT_VENV)/bin/python docker/check_locks.py
	$(LINT_VENV)/bin/python docker/check_from.py $(if $(REQUIRE_DIGESTS),--strict) $(DOCKERFILES)
	patches/fork.sh check

# Keras 2.2.4's own tests, stock vs patches installed vs get_predict forced (keras_suite/),
# in a venv of their own: the suite needs old PyYAML/requests pins.
test-compat: $(KERAS_SUITE_VENV)/.installed
	$(KERAS_SUITE_VENV)/bin/python -m keras_suite.run_gate --workers 2

# tf.keras of TensorFlow 1.15 (issue 20), the tests/ cell: KERAS_GETPREDICT_STACK=
# tf.keras has tests/support/stack.py build every model with tf.keras (conftest leaves out
# the files that test standalone Keras alone). Once in a venv without standalone Keras,
# once beside it (both stacks imported and patched, as in a project using both); then the
# representative gate (keras_suite/tf_keras/: stock against installed against forced).
# The Horovod job on horovod.tensorflow.keras runs in test-horovod.
.PHONY: test-tfkeras
test-tfkeras: $(TFKERAS_VENV)/.installed $(VENV)/.installed
	KERAS_GETPREDICT_STACK=tf.keras $(TFKERAS_VENV)/bin/python $(PYTEST) -q tests -n 2
	KERAS_GETPREDICT_STACK=tf.keras $(VENV)/bin/python $(PYTEST) -q tests -n 2
	$(TFKERAS_VENV)/bin/python -m keras_suite.run_gate --suite tf.keras --workers 2

# tests/ against the fork: KERAS_GETPREDICT_MODE=fork makes conftest fail fast if `keras`
# is not the fork, and skip the `monkeypatch_only` tests.
test-fork: $(FORK_VENV)/.installed
	patches/fork.sh check
	KERAS_GETPREDICT_MODE=fork $(FORK_VENV)/bin/python $(PYTEST) tests -n 2

# Python 3.6 is the CUDA 10 image's Python. PY36_TESTS=... narrows the run.
PY36_TESTS ?= tests
test-py36: $(PY36_VENV)/.installed
	$(PY36_VENV)/bin/python $(PYTEST) $(PY36_TESTS) -n 2

# Real `horovodrun --gloo` jobs on localhost (2 and 3 ranks), with stock Keras +
# install() and with the fork. `make -k test-horovod` runs the second after a failed first.
HVD_TESTS = tests/test_horovod_run.py
test-horovod: test-horovod-stock test-horovod-fork

test-horovod-stock: $(HVD_VENV)/.installed
	PATH="$(CURDIR)/$(HVD_VENV)/bin:$$PATH" KERAS_GETPREDICT_MODE=monkeypatch \
		$(HVD_VENV)/bin/python $(PYTEST) $(HVD_TESTS)

test-horovod-fork: $(HVD_FORK_VENV)/.installed
	PATH="$(CURDIR)/$(HVD_FORK_VENV)/bin:$$PATH" KERAS_GETPREDICT_MODE=fork \
		$(HVD_FORK_VENV)/bin/python $(PYTEST) $(HVD_TESTS)

# --- CI: every tier -------------------------------------------------------------------
# First every venv, two builds at a time (pip's cache makes them mostly I/O; output is
# grouped per venv). Then the tiers one after another: each uses both cores, and tests
# that fork workers are kept out of each other's way. Every tier runs even after one has
# failed; the exit status is non-zero if any did.
CI_TIERS = lint test test-compat test-fork test-py36 test-horovod test-mrcnn test-libraries \
	test-tfkeras test-matrix
ci:
	$(MAKE) --no-print-directory -j2 --output-sync=target venvs
	@failed=; \
	for tier in $(CI_TIERS); do \
		echo "== make $$tier"; start=$$SECONDS; \
		if $(MAKE) --no-print-directory -k $$tier; then result=passed; \
		else result=FAILED; failed="$$failed $$tier"; fi; \
		echo "== make $$tier: $$result in $$((SECONDS - start)) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "== make ci: failed:$$failed"; exit 1; fi; \
	echo "== make ci: every tier passed ($(CI_TIERS))"

# --- The fork: Keras 2.2.4 + patches/series as a wheel ----------------------------------
# Any venv can use it: add $(FORK_WHEEL) to a `pip install -c constraints.txt ...` line
# (the constraint keras==2.2.4 accepts it).
fork-wheel: $(FORK_WHEEL)

$(FORK_WHEEL): patches/series $(wildcard patches/*.patch) patches/fork.sh patches/keras-sdists.sha256 | $(VENV)/.installed
	PYTHON=$(VENV)/bin/python patches/fork.sh wheel

# --- Benchmarks -------------------------------------------------------------------------
bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/bench_evaluate.py

bench-batch-predictions: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/bench_batch_predictions.py

bench-horovod: $(HVD_VENV)/.installed
	PATH="$(CURDIR)/$(HVD_VENV)/bin:$$PATH" horovodrun --gloo -np 2 -H localhost:2 \
		$(HVD_VENV)/bin/python benchmarks/bench_horovod_gather.py

clean:
	rm -rf $(ALL_VENVS) $(MATRIX_VENVS) build dist *.egg-info

# --- Capture at segmentation sizes (docs/benchmarks.md) -------------------------------
# bench-segmentation: one table, each mode (full capture, reducing mode with bins=0 and 200)
# against stock on the light model (32², 64², 128²) and a 1.1 M-parameter U-Net (128²),
# one-hot and integer labels, with peak RSS (~3 min; BENCH_ARGS=--memory-scan for peak
# RSS against the validation set's size). bench-segmentation-floor: what single TensorFlow
# ops (ArgMax, Bincount) and the full capture's copies cost by themselves.
# profile-segmentation: the TensorFlow timeline and cProfile of one configuration.
# None of them is part of `make ci`. bench-streaming: the former name (issue 17's), one
# release.
BENCH_ARGS ?=
.PHONY: bench-segmentation bench-segmentation-floor profile-segmentation bench-streaming
bench-streaming: bench-segmentation

bench-segmentation: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/bench_segmentation.py $(BENCH_ARGS)

bench-segmentation-floor: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/bench_segmentation_floor.py $(BENCH_ARGS)

profile-segmentation: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/profile_segmentation.py $(BENCH_ARGS)

# --- Mask R-CNN tier: matterport's model trained for two tiny epochs on drawn shapes ---
# The crafted-box tests against mrcnn/pycocotools and the real training run (~3-8 min on
# 2 cores); `make test` skips both where mrcnn is not installed.
.PHONY: mrcnn-venv test-mrcnn bench-mrcnn
mrcnn-venv: $(MRCNN_VENV)/.installed

test-mrcnn: $(MRCNN_VENV)/.installed
	$(MRCNN_VENV)/bin/python $(PYTEST) tests/test_mask_rcnn_metrics.py \
		tests/test_mask_rcnn_real.py tests/test_layer_capture.py

bench-mrcnn: $(MRCNN_VENV)/.installed
	$(MRCNN_VENV)/bin/python benchmarks/bench_mask_rcnn.py

# --- Libraries tier: real Keras 2.2.4 libraries as clients, each run unedited ----------
# image-segmentation-keras' train(), a segmentation-models script and keras-retinanet's
# train.py main() on drawn shapes with random weights (nothing downloaded at run time),
# capture switched on from outside (docs/libraries.md). `make test` skips these files where
# the libraries are not installed.
.PHONY: libraries-venv test-libraries
LIBRARIES_TESTS = $(wildcard tests/test_libraries_*.py)
libraries-venv: $(LIBRARIES_VENV)/.installed

test-libraries: $(LIBRARIES_VENV)/.installed
	$(LIBRARIES_VENV)/bin/python $(PYTEST) $(LIBRARIES_TESTS) -n 2

# --- Keras version matrix: tests/ in one venv per supported Keras -----------------------
# `make test-keras-2.2.5` runs tests/ in .venv-keras-2.2.5; `make test-matrix` runs every
# supported version but the default 2.2.4 (that one is `make test`);
# `make test-compat-keras-2.2.5` is that version's Keras suite gate. Each venv installs
# with .cache/constraints-keras-X.txt: constraints.txt with the lines of the packages
# that constraints-keras-X.txt pins replaced by its lines (keras==X, and what that
# version's own tests need), so the other pins cannot drift apart (the libraries tier
# merges constraints-libraries.txt the same way).
# What a version's venv adds to tests/' extras: matterport's Mask R-CNN where it trains
# (on 2.3.1 it fails inside mrcnn itself), so tests/ runs the real Mask R-CNN tests there.
MATRIX_EXTRAS_2.1.6 = $(comma)mrcnn
MATRIX_EXTRAS_2.2.5 = $(comma)mrcnn
# Horovod (from pip's wheel cache after the first build): tests/ then runs its real
# horovodrun jobs on that Keras.
MATRIX_HOROVOD_2.1.6 = horovod
MATRIX_HOROVOD_2.2.5 = horovod
MATRIX_HOROVOD_2.3.1 = horovod

.cache/constraints-%.txt: constraints.txt constraints-%.txt
	@mkdir -p .cache
	awk 'NR == FNR { if ($$0 !~ /^#/ && match($$0, /^[A-Za-z0-9_.-]+/)) \
		drop[tolower(substr($$0, 1, RLENGTH))] = 1; next } \
		!(match($$0, /^[A-Za-z0-9_.-]+/) && tolower(substr($$0, 1, RLENGTH)) in drop)' \
		constraints-$*.txt constraints.txt > $@
	cat constraints-$*.txt >> $@

$(foreach v,$(KERAS_MATRIX),$(eval $(call venv,.venv-keras-$(v),$(PY_VERSION),$(TEST_EXTRAS)$(comma)kerassuite$(MATRIX_EXTRAS_$(v)),,$(MATRIX_HOROVOD_$(v)),.cache/constraints-keras-$(v).txt)))

# As the fork's Horovod venv: after the stock one, so Horovod comes from pip's wheel cache.
$(foreach v,$(KERAS_MATRIX),$(if $(MATRIX_HOROVOD_$(v)),$(eval .venv-keras-$(v)/.installed: | $(HVD_VENV)/.installed)))

.PRECIOUS: .venv-keras-%/.installed .cache/constraints-%.txt
# (test-keras-X is a pattern rule, so it cannot be .PHONY: make skips implicit rules for those.)
.PHONY: test-matrix

test-keras-%: .venv-keras-%/.installed
	PATH="$(CURDIR)/.venv-keras-$*/bin:$$PATH" .venv-keras-$*/bin/python $(PYTEST) tests -n 2

# Without the multiprocessing files: on Keras 2.2.5 their STOCK run hung here (forked
# workers idle for minutes), so they would gate nothing of ours.
test-compat-keras-%: .venv-keras-%/.installed
	.venv-keras-$*/bin/python -m keras_suite.run_gate --workers 2 --skip-multiprocessing

test-matrix: $(addprefix test-keras-,$(KERAS_MATRIX)) $(addprefix test-compat-keras-,$(KERAS_MATRIX))
