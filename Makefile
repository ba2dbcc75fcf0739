# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
# Both build .venv first from the pinned stack in constraints.txt.
SHELL := /bin/bash
VENV ?= .venv
PY_VERSION ?= 3.7
PYTHON = $(VENV)/bin/python
PIP_INSTALL = $(VENV)/bin/pip install --disable-pip-version-check -q -c constraints.txt
export TF_CPP_MIN_LOG_LEVEL = 2
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: venv test demo bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py constraints.txt
	@echo "== building $(VENV) with $$(PY_VERSION=$(PY_VERSION) .ci/find-python)"
	rm -rf $(VENV)
	"$$(PY_VERSION=$(PY_VERSION) .ci/find-python)" -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q "pip<24" "setuptools<68" wheel
	$(PIP_INSTALL) -e ".[cpu,test]"
	touch $@

test: venv test-horovod
	$(PYTHON) -m pytest tests -n 2 -p no:cacheprovider

demo: venv
	$(PYTHON) -m keras_getpredict demo

bench: venv
	$(PYTHON) benchmarks/bench_evaluate.py

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

clean:
	rm -rf $(VENV) $(HVD_VENV) build dist *.egg-info
