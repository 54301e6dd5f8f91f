# LIQUID EDGE inference mesh. Two commands set everything up on a fresh machine:
#   make run    start the local mesh with the embedded default model and drive it with real frames
#   make test   install what the tests need and run them
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
MODEL_DIR ?= models
STAMP := $(VENV)/.installed
PROTOS := protos/liquidedge/v1/detection.proto protos/liquidedge/v1/gallery.proto protos/liquidedge/legacy/robot.proto

.PHONY: install run test lint protos models clean
# Each area adds its own targets and test prerequisites (TEST_DEPS) in mk/<area>.mk.
.DEFAULT_GOAL := install
TEST_DEPS :=
-include mk/*.mk

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q --only-binary dlib-bin -e '.[dev,demo,recognition,cpu]'
	touch $@

install: $(STAMP)

models: $(STAMP)
	$(PY) -m yolodetection.model_fetch --dest $(MODEL_DIR)

run: install models
	$(PY) -m meshtools.demo --model-dir $(MODEL_DIR) $(if $(KAFKA),--kafka true) $(ARGS)

test: install models $(TEST_DEPS)
	LIQUIDEDGE_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/lint-imports --no-cache --no-logo

protos: install
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=src --grpc_python_out=src --pyi_out=src $(PROTOS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
