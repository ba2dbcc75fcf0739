# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Both build .venv first from the pinned stack in constraints.txt.
SHELL := /bin/bash
VENV ?= .venv
PY_VERSION ?= 3.7
PYTHON = $(VENV)/bin/python
PIP_INSTALL = $(VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt
export TF_CPP_MIN_LOG_LEVEL = 2
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: venv test demo bench clean venv-kerassuite test-keras-suite
.PHONY: fork-wheel fork-venv test-fork venv-py36 test-py36 check-docker

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py constraints.txt
	@echo "== building $(VENV) with $$(PY_VERSION=$(PY_VERSION) .ci/find-python)"
	rm -rf $(VENV)
	"$$(PY_VERSION=$(PY_VERSION) .ci/find-python)" -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q "pip<24" "setuptools<68" wheel
	$(PIP_INSTALL) -e ".[cpu,test]"
	touch $@

# Keras 2.2.4's own tests, stock vs patched vs get_predict forced (keras_suite/): a
# venv of its own, because the suite needs old PyYAML/requests pins.
KERAS_SUITE_VENV ?= .venv-kerassuite

venv-kerassuite: $(KERAS_SUITE_VENV)/.installed

$(KERAS_SUITE_VENV)/.installed: setup.py constraints.txt
	@echo "== building $(KERAS_SUITE_VENV) with $$(PY_VERSION=$(PY_VERSION) .ci/find-python)"
	rm -rf $(KERAS_SUITE_VENV)
	"$$(PY_VERSION=$(PY_VERSION) .ci/find-python)" -m venv $(KERAS_SUITE_VENV)
	$(KERAS_SUITE_VENV)/bin/pip install --disable-pip-version-check -q "pip<24" "setuptools<68" wheel
	$(KERAS_SUITE_VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt -e ".[cpu,kerassuite]"
	touch $@

test-keras-suite: venv-kerassuite
	$(KERAS_SUITE_VENV)/bin/python -m keras_suite.run_gate --workers 2

# The plain pytest run of tests/ stays last: CI reads its closing line.
test: venv check-docker test-keras-suite test-fork test-py36 test-horovod
	$(PYTHON) -m pytest tests -n 2 -p no:cacheprovider

demo: venv
	$(PYTHON) -m keras_getpredict demo

bench: venv
	$(PYTHON) benchmarks/bench_evaluate.py

.PHONY: bench-batch-predictions
bench-batch-predictions: venv
	$(PYTHON) benchmarks/bench_batch_predictions.py

clean:
	rm -rf $(VENV) $(KERAS_SUITE_VENV) $(FORK_VENV) $(PY36_VENV) $(HVD_VENV) build dist *.egg-info

# --- Fork mode: Keras 2.2.4 + patches/series as a wheel, in its own venv -------------
# Other venvs on the fork: `make fork-venv FORK_VENV=.venv-x FORK_EXTRAS=cpu,kerassuite`,
# then $(FORK_VENV)/bin/python; or add $(FORK_WHEEL) (after `make fork-wheel`) to any
# `pip install -c constraints.txt ...` line: the constraint keras==2.2.4 accepts it.
FORK_VENV ?= .venv-fork
FORK_EXTRAS ?= cpu,test
FORK_PYTHON = $(FORK_VENV)/bin/python
FORK_WHEEL = .cache/fork/dist/Keras-2.2.4+getpredict.1-py3-none-any.whl

fork-wheel: $(FORK_WHEEL)

$(FORK_WHEEL): patches/series $(wildcard patches/*.patch) patches/fork.sh | venv
	PYTHON=$(PYTHON) patches/fork.sh wheel

fork-venv: $(FORK_VENV)/.installed-fork

$(FORK_VENV)/.installed-fork: $(FORK_WHEEL) setup.py constraints.txt
	@echo "== building $(FORK_VENV) (forked Keras) with $$(PY_VERSION=$(PY_VERSION) .ci/find-python)"
	rm -rf $(FORK_VENV)
	"$$(PY_VERSION=$(PY_VERSION) .ci/find-python)" -m venv $(FORK_VENV)
	$(FORK_VENV)/bin/pip install --disable-pip-version-check -q "pip<24" "setuptools<68" wheel
	$(FORK_VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt \
		$(FORK_WHEEL) -e ".[$(FORK_EXTRAS)]"
	$(FORK_PYTHON) -c "import keras_getpredict as k; v = k.native_version(); \
		assert v, 'keras in $(FORK_VENV) is not the fork'; print('== fork:', v)"
	touch $@

# The same test files as `make test`, against the fork (KERAS_GETPREDICT_MODE=fork makes
# conftest fail fast if `keras` there is not the fork, and skip `monkeypatch_only` tests).
test-fork: fork-venv
	patches/fork.sh check
	KERAS_GETPREDICT_MODE=fork $(FORK_PYTHON) -m pytest tests -n 2 -p no:cacheprovider

# --- Python 3.6 (the CUDA 10 image's Python): the same tests in their own venv ------
# constraints.txt carries the 3.6 pins (markers), including pip/setuptools/wheel: the
# venv's bundled pip 18 cannot see TensorFlow 1.15's manylinux2010 wheels.
PY36_VENV ?= .venv-py36
PY36_TESTS ?= tests

venv-py36: $(PY36_VENV)/.installed

$(PY36_VENV)/.installed: setup.py constraints.txt
	@echo "== building $(PY36_VENV) with $$(PY_VERSION=3.6 .ci/find-python)"
	rm -rf $(PY36_VENV)
	"$$(PY_VERSION=3.6 .ci/find-python)" -m venv $(PY36_VENV)
	$(PY36_VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt pip
	$(PY36_VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt setuptools wheel
	$(PY36_VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt -e ".[cpu,test]"
	touch $@

test-py36: venv-py36
	$(PY36_VENV)/bin/python -m pytest $(PY36_TESTS) -n 2 -p no:cacheprovider

# --- Docker: hadolint, locks agree with constraints.txt, FROM digests ----------------
# A FROM without a digest is a warning here (no registry is reachable from our machines,
# so CI could never resolve it); docker/run-tests.sh refuses to build one
# (REQUIRE_DIGESTS=1 makes this target refuse too).
DOCKERFILES = docker/Dockerfile.cuda10 docker/Dockerfile.ngc

$(VENV)/.installed-docker: $(VENV)/.installed setup.py constraints.txt
	$(PIP_INSTALL) -e ".[docker]"
	touch $@

check-docker: $(VENV)/.installed-docker
	$(VENV)/bin/hadolint $(DOCKERFILES)
	@echo "hadolint: $(DOCKERFILES) clean"
	$(PYTHON) docker/check_locks.py
	$(PYTHON) docker/check_from.py $(if $(REQUIRE_DIGESTS),--strict) $(DOCKERFILES)
# Horovod (issue 7) lives in its own venv: it compiles against the installed TensorFlow
# (~5-6 min on one core, so the machine stays usable; pip caches the wheel, so later
# rebuilds on the same machine take ~1 min), and the stamp skips it when nothing changed.
.PHONY: horovod-venv test-horovod bench-horovod
HVD_VENV ?= .venv-horovod
HVD_PYTHON = $(HVD_VENV)/bin/python
HVD_BUILD_ENV = HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
	HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 MAKEFLAGS=-j1

horovod-venv: $(HVD_VENV)/.installed

$(HVD_VENV)/.installed: setup.py constraints.txt
	@echo "== building $(HVD_VENV) (Horovod compiles from source: ~6 min)"
	rm -rf $(HVD_VENV)
	"$$(PY_VERSION=$(PY_VERSION) .ci/find-python)" -m venv $(HVD_VENV)
	$(HVD_VENV)/bin/pip install --disable-pip-version-check -q "pip<24" "setuptools<68" wheel
	$(HVD_VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt -e ".[cpu,test]"
	$(HVD_BUILD_ENV) $(HVD_VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt \
		--no-build-isolation -e ".[cpu,test,horovod]"
	$(HVD_PYTHON) -c "import horovod.tensorflow as h; assert h.gloo_built(), 'horovod built without gloo'"
	touch $@

# Launches real `horovodrun --gloo` jobs on localhost (2 and 3 ranks).
test-horovod: horovod-venv
	PATH="$(CURDIR)/$(HVD_VENV)/bin:$$PATH" $(HVD_PYTHON) -m pytest tests/test_horovod_run.py -p no:cacheprovider

bench-horovod: horovod-venv
	PATH="$(CURDIR)/$(HVD_VENV)/bin:$$PATH" horovodrun --gloo -np 2 -H localhost:2 \
		$(HVD_PYTHON) benchmarks/bench_horovod_gather.py


# --- Keras version matrix: tests/ in one venv per supported Keras -----------------------
# `make test-keras-2.2.5` runs tests/ in .venv-keras-2.2.5; `make test-matrix` runs every
# supported version but the default 2.2.4 (that one is `make test`);
# `make test-compat-keras-2.2.5` is that version's Keras suite gate. Each venv installs
# with .cache/constraints-keras-X.txt: constraints.txt with the lines of the packages
# that constraints-keras-X.txt pins replaced by its lines (keras==X, and what that
# version's own tests need), so the other pins cannot drift apart.
# Porting onto the `define venv` Makefile: give the macro a constraints-file argument
# (default constraints.txt), then
#   $(foreach v,$(KERAS_MATRIX),$(eval $(call venv,.venv-keras-$(v),3.7,$(TEST_EXTRAS),,,.cache/constraints-keras-$(v).txt)))
# and `KERAS=2.2.5 make test` is `VENV = $(if $(KERAS),.venv-keras-$(KERAS),.venv)`.
KERAS_MATRIX = 2.2.5

.cache/constraints-keras-%.txt: constraints.txt constraints-keras-%.txt
	@mkdir -p .cache
	awk 'NR == FNR { if ($$0 !~ /^#/ && match($$0, /^[A-Za-z0-9_.-]+/)) \
		drop[tolower(substr($$0, 1, RLENGTH))] = 1; next } \
		!(match($$0, /^[A-Za-z0-9_.-]+/) && tolower(substr($$0, 1, RLENGTH)) in drop)' \
		constraints-keras-$*.txt constraints.txt > $@
	cat constraints-keras-$*.txt >> $@

.venv-keras-%/.installed: setup.py constraints.txt .cache/constraints-keras-%.txt
	@echo "== building .venv-keras-$* (Keras $*) with $$(PY_VERSION=$(PY_VERSION) .ci/find-python)"
	rm -rf .venv-keras-$*
	"$$(PY_VERSION=$(PY_VERSION) .ci/find-python)" -m venv .venv-keras-$*
	.venv-keras-$*/bin/pip install --disable-pip-version-check -q "pip<24" "setuptools<68" wheel
	.venv-keras-$*/bin/pip install --disable-pip-version-check -q \
		-c .cache/constraints-keras-$*.txt -e ".[cpu,test,kerassuite]"
	.venv-keras-$*/bin/python -c "import keras; assert keras.__version__ == '$*', keras.__version__"
	touch $@

.PRECIOUS: .venv-keras-%/.installed .cache/constraints-keras-%.txt
# (test-keras-X is a pattern rule, so it cannot be .PHONY: make skips implicit rules for those.)
.PHONY: test-matrix

# install() refuses these versions for now (docs/versions.md); the preview variable lets
# tests/ and the gate run on them anyway, to measure how far each one is.
test-keras-%: .venv-keras-%/.installed
	KERAS_GETPREDICT_PREVIEW_KERAS=$* .venv-keras-$*/bin/python -m pytest tests -n 2 -p no:cacheprovider

# Without the multiprocessing files: on Keras 2.2.5 their STOCK run hung here (forked
# workers idle for minutes), so they would gate nothing of ours.
test-compat-keras-%: .venv-keras-%/.installed
	KERAS_GETPREDICT_PREVIEW_KERAS=$* .venv-keras-$*/bin/python -m keras_suite.run_gate --workers 2 --skip-multiprocessing

test-matrix: $(addprefix test-keras-,$(KERAS_MATRIX)) $(addprefix test-compat-keras-,$(KERAS_MATRIX))
