# Quick start: `make demo` (the main job on the embedded stack) and `make test`.
# Needs only Python 3.11+ and make: everything else is installed into .venv from the locks.

PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.9

.PHONY: help install demo test lint unit integration airflow bench lock stack-up stack-down compose-check clean

help:
	@echo "make demo      run every sync DAG once on the embedded stack and print the summary"
	@echo "make test      lint + the whole test suite (what CI runs)"
	@echo "make airflow   embedded stack + airflow standalone (UI on http://localhost:8080)"
	@echo "               EXECUTOR=celery: on Redis, two Celery workers and s3:// staging instead"
	@echo "make bench     throughput benchmarks against COPY and the usual alternatives"
	@echo "make lock      recompile requirements*.txt from requirements*.in"
	@echo "make clean     stop the stack and remove .local/ (the venv stays)"

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0) if sys.version_info >= (3, 11) else sys.exit("Python 3.11 or newer is required (found %s at %s): install it or run make PY=/path/to/python3.11" % (sys.version.split()[0], sys.executable))'
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@# Precompiled bytecode: every Airflow process would otherwise compile Airflow again (10-30 s each).
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.txt requirements-dev.txt
	@# The project itself, metadata only (the locks above are its dependencies): its provider entry
	@# point registers the salesforce_elt connection type; editable, its .pth puts the repo root and
	@# plugins/ on sys.path as Airflow does, so the CLI, the services and the tests see one layout.
	$(BIN)/uv pip install --quiet --no-deps --python $(BIN)/python -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/python -m embedded_stack demo

# EXECUTOR=celery: Redis, an S3-compatible staging store (moto) and two Celery workers, no Docker.
EXECUTOR ?= local
airflow: $(STAMP)
	$(BIN)/python -m embedded_stack airflow --executor $(EXECUTOR)

lint: $(STAMP)
	$(BIN)/ruff check .
	@# Strict on plugins/salesforce_elt, as configured in pyproject.toml.
	$(BIN)/mypy
	$(BIN)/python -m embedded_stack compose-check

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit tests/dags $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

compose-check: $(STAMP)
	$(BIN)/python -m embedded_stack compose-check

lock: $(STAMP)
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --no-header requirements.in -o requirements.txt
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --no-header requirements-dev.in -o requirements-dev.txt

stack-down:
	@test -x $(BIN)/python && $(BIN)/python -m embedded_stack down || true

clean: stack-down
	rm -rf .local
