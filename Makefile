# Two commands do everything on a fresh machine: `make demo` and `make test`.
# The virtual environment is created in .venv/ when missing and reinstalled only
# when pyproject.toml or constraints.txt change, so every target is safe to rerun.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration install constraints clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/smecredit demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

integration: $(STAMP)
	$(BIN)/pytest -m integration

# Regenerate the pinned constraints from the current, working environment.
constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^smecredit' > constraints.txt

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
