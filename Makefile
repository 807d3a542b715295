# Two commands do everything on a fresh machine: `make demo` and `make test`.
# The virtual environment is created in .venv/ when missing and reinstalled only
# when pyproject.toml or constraints.txt change, so every target is safe to rerun.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: browser demo test lint typecheck unit integration install constraints clean bench-scorecard \
        services cluster cluster-stop cluster-test ui

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

# The whole suite, the cluster test included (it starts PostgreSQL, Redis and seven Airflow
# processes from a fixture: see docs/deployment.md for its duration).
test: lint typecheck browser services
	$(BIN)/pytest

# The cluster test alone, printing each phase's duration.
cluster-test: $(STAMP) services
	$(BIN)/pytest -m cluster -s

# Headless Chromium renders the HTML report in a test (Debian's package; root installs it).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	fc-list :lang=zh | grep -q . || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null)  # evidence summaries print Chinese

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

integration: $(STAMP) services
	$(BIN)/pytest -m integration

# Debian's PostgreSQL and Redis servers, for `make cluster` and the cluster test (root installs
# them; a policy-rc.d keeps the packages from starting system-wide servers of their own).
services:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null || ( \
	  test -e /usr/sbin/policy-rc.d || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; touch /tmp/.smecredit-rc; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null; \
	  status=$$?; test ! -e /tmp/.smecredit-rc || rm -f /usr/sbin/policy-rc.d /tmp/.smecredit-rc; exit $$status )

# The pipeline as a bank deploys it, on loopback: PostgreSQL, Redis, Airflow's api-server,
# scheduler, dag-processor, triggerer and two Celery workers (docs/deployment.md).
cluster: $(STAMP) services
	$(BIN)/python -m pipelines.cluster start

cluster-stop: $(STAMP)
	$(BIN)/python -m pipelines.cluster stop

# Airflow's web UI over the demo's own Airflow home (after `make demo`): admin / admin.
ui: $(STAMP)
	$(BIN)/python -m pipelines.ui

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
	rm -rf $(VENV) .bench-venv demo-output cluster-output .pytest_cache .mypy_cache .ruff_cache
