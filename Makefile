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
test: venv test-keras-suite
	$(PYTHON) -m pytest tests -n 2 -p no:cacheprovider

demo: venv
	$(PYTHON) -m keras_getpredict demo

bench: venv
	$(PYTHON) benchmarks/bench_evaluate.py

.PHONY: bench-batch-predictions
bench-batch-predictions: venv
	$(PYTHON) benchmarks/bench_batch_predictions.py

clean:
	rm -rf $(VENV) $(KERAS_SUITE_VENV) build dist *.egg-info
