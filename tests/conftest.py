"""Test harness. Airflow reads its configuration when first imported, so the environment is
set here, at collection time, before any test module can import it."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_VECTORS = ROOT.parent / "shared" / "vectors"
_DATABASES = itertools.count()  # names of the state-store tests' PostgreSQL databases

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="smecredit-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"

# The bank's model-signing key of this test session: DAG tasks read it from the environment.
from models.signing import ModelKeys  # noqa: E402

MODEL_KEYS = ModelKeys.generate()
os.environ["SMECREDIT_MODEL_SIGNING_KEY"] = MODEL_KEYS.private_pem()


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A fresh, migrated Airflow metadata database, created once per test session."""
    from airflow.utils.db import resetdb

    resetdb()
    yield _AIRFLOW_HOME


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The public test vectors in ../shared/vectors, read in place."""
    if not SHARED_VECTORS.is_dir():
        pytest.skip(f"public test vectors not found at {SHARED_VECTORS} (../shared is absent)")
    return SHARED_VECTORS


@pytest.fixture(scope="session")
def credit_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated world, ingested once per session: ``world/`` (landing, bank books,
    truth, trust.json) and ``lake/``. Loans default more often than in the default world, so
    that a model can be trained on 400 firms. Tests that write must copy it."""
    from pipelines.ingest import IngestConfig, ingest
    from pipelines.simulate import WorldConfig, simulate

    root = tmp_path_factory.mktemp("credit-world")
    cfg = WorldConfig(firms=400, months=20, seed=7, apply_per_firm_year=0.8, miss_intercept=-3.5)
    simulate(cfg, root / "world")
    ingest(
        IngestConfig(str(root / "world" / "landing"), str(root / "lake"), str(root / "world" / "trust.json"))
    )
    return root


@pytest.fixture(scope="session")
def scored_lake(credit_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The credit world's lake with a trained pre-loan model and every application scored
    (built once per session; tests that write must copy it)."""
    import shutil
    from datetime import date

    from pipelines.scoring import read_bank, score_days, train

    lake = tmp_path_factory.mktemp("scored") / "lake"
    shutil.copytree(credit_world / "lake", lake)
    bank = str(credit_world / "world" / "bank")
    train(str(lake), bank, str(lake / "models"), min_bads=(5, 3), keys=MODEL_KEYS)
    days = sorted({date.fromisoformat(d) for d in read_bank(bank, "applications").applied_on})
    score_days(str(lake), bank, str(lake / "models"), days, MODEL_KEYS)
    return lake


def lake_settings(lake: Path, world: Path) -> Any:
    """Settings for a private copy of a test lake and the bank books of ``world`` (a world
    folder with ``bank/``); models under the lake."""
    from pipelines.config import Settings

    return Settings(
        landing_uri="",
        lake_uri=str(lake),
        trust_policy="",
        bank_uri=str(world / "bank"),
        models_uri=str(lake / "models"),
        model_signing_key=MODEL_KEYS.private_pem(),
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One throwaway PostgreSQL server for the session (tests/postgres.py); each test makes
    its own database on it."""
    from tests.postgres import postgres

    with postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def state_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty state store URL: a SQLite file, or a new database on the session's
    PostgreSQL server (both backends of pipelines.ledger_state)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'ledger-state.sqlite'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.create_database(f"state_{os.getpid()}_{next(_DATABASES)}"))
