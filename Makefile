# Two commands do everything on a fresh machine: `make demo` and `make test`.
# The virtual environment is created in .venv/ when missing and reinstalled only
# when pyproject.toml or constraints.txt change, so every target is safe to rerun.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: browser postgresql demo test lint typecheck unit integration install constraints clean bench-scorecard

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

test: lint typecheck browser postgresql
	$(BIN)/pytest

# Headless Chromium renders the HTML report in a test (Debian's package; root installs it).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	fc-list :lang=zh | grep -q . || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null)  # evidence summaries print Chinese

# PostgreSQL's binaries (Debian's package) for the tests that start their own server in a temporary folder;
# the package is told not to create and start a cluster of its own.
postgresql:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (mkdir -p /etc/postgresql-common/createcluster.d && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/smecredit.conf && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

integration: $(STAMP)
	$(BIN)/pytest -m integration

# Regenerate the pinned constraints from the current, working environment.
constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^smecredit' > constraints.txt

# The scorecard benchmark's peers live in their own environment, never in the project's:
# scorecardpy needs pandas < 3.
bench-scorecard:
	test -x .bench-venv/bin/python || $(PYTHON) -m venv .bench-venv
	.bench-venv/bin/python -m pip install --quiet --disable-pip-version-check optbinning scorecardpy 'pandas<3' scikit-learn scipy
	.bench-venv/bin/python benchmarks/scorecard.py

clean:
	rm -rf $(VENV) .bench-venv demo-output .pytest_cache .mypy_cache .ruff_cache
