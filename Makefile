# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Both build .venv first from the pinned stack in constraints.txt.
SHELL := /bin/bash
VENV ?= .venv
PY_VERSION ?= 3.7
PYTHON = $(VENV)/bin/python
PIP_INSTALL = $(VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt
export TF_CPP_MIN_LOG_LEVEL = 2
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: venv test demo bench clean fork-wheel fork-venv test-fork

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py constraints.txt
	@echo "== building $(VENV) with $$(PY_VERSION=$(PY_VERSION) .ci/find-python)"
	rm -rf $(VENV)
	"$$(PY_VERSION=$(PY_VERSION) .ci/find-python)" -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q "pip<24" "setuptools<68" wheel
	$(PIP_INSTALL) -e ".[cpu,test]"
	touch $@

test: venv test-fork
	$(PYTHON) -m pytest tests -n 2 -p no:cacheprovider

demo: venv
	$(PYTHON) -m keras_getpredict demo

bench: venv
	$(PYTHON) benchmarks/bench_evaluate.py

clean:
	rm -rf $(VENV) $(FORK_VENV) build dist *.egg-info

# --- Fork mode: Keras 2.2.4 + patches/series as a wheel, in its own venv -------------
# The issue-3 gate (or anyone) can run against it with `make fork-venv` and then
# $(FORK_PYTHON) (`.venv-fork/bin/python`), whose `keras` is the fork.
FORK_VENV ?= .venv-fork
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
		$(FORK_WHEEL) -e ".[cpu,test]"
	$(FORK_PYTHON) -c "import keras_getpredict as k; v = k.native_version(); \
		assert v, 'keras in $(FORK_VENV) is not the fork'; print('== fork:', v)"
	touch $@

# The same test files as `make test`, against the fork (KERAS_GETPREDICT_MODE=fork makes
# conftest fail fast if `keras` there is not the fork, and skip `monkeypatch_only` tests).
test-fork: fork-venv
	patches/fork.sh check
	KERAS_GETPREDICT_MODE=fork $(FORK_PYTHON) -m pytest tests -n 2 -p no:cacheprovider
