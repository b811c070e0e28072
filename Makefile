# runbookd — `make run` serves the shipped config on SQLite; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test prerequisites lint check bench clean k8s-rules

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(VENV)/.installed
	mkdir -p data
	$(BIN)/runbookd serve --config runbookd.yml

# Stops with the exact command to run when the machine lacks Prometheus, Alertmanager or PostgreSQL
# (tests/prerequisites.py); .ci/run installs them first.
prerequisites: $(VENV)/.installed-test
	$(BIN)/python -m tests.prerequisites

test: prerequisites
	$(BIN)/pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check receiver tests bench
	$(BIN)/mypy receiver
	$(BIN)/lint-imports

check: $(VENV)/.installed
	$(BIN)/runbookd check --config runbookd.yml
	for cfg in examples/*/runbookd.yml; do $(BIN)/runbookd check --config $$cfg || exit 1; done
	$(BIN)/runbookd test rules/tests/*.yml examples/*/rules/tests/*.yml

# deploy/kubernetes/rules-configmap.yaml from rules/*.yml (tests/deploy/ fails while they differ).
k8s-rules: $(VENV)/.installed
	$(BIN)/python deploy/kubernetes/rules_configmap.py

bench: $(VENV)/.installed-test
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) data .pytest_cache
