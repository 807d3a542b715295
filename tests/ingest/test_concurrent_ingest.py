"""Four ``smecredit ingest`` processes at once on one lake and one state store, over the
same landing zone or over overlapping subsets of sources, on SQLite and on PostgreSQL:
the lake equals one serial run's. The landing zone holds a re-export of a bundle (the same
records under another folder), so that workers race for the same record ids."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from pipelines.ingest import IngestConfig, ingest
from pipelines.ledger_state import StateStore
from pipelines.simulate import WorldConfig, simulate
from tests.ingest.lakes import check_consistent, cli_env, facts, ingest_process

SUBSETS: dict[str, list[list[str]]] = {
    "same": [[], [], [], []],
    "overlapping": [
        ["--source", "social_insurance", "--source", "supply_chain"],
        ["--source", "supply_chain", "--source", "housing_fund"],
        ["--source", "housing_fund", "--source", "social_insurance"],
        ["--source", "supply_chain"],
    ],
}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small world's landing zone with a supply-chain bundle exported twice."""
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(firms=12, months=2, seed=5), out)
    bundles = sorted((out / "landing" / "supply_chain").iterdir())
    twice = max(bundles, key=lambda p: (p / "records.jsonl").stat().st_size)
    shutil.copytree(twice, twice.parent / f"0000-reexport-{twice.name}")
    return out / "landing"


@pytest.fixture(scope="module")
def serial(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    lake = tmp_path_factory.mktemp("serial") / "lake"
    ingest(IngestConfig(str(landing), str(lake), str(landing.parent / "trust.json")))
    check_consistent(lake, landing)
    return facts(lake)


# Four real processes at once; the limit leaves room for a busy machine.
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("subsets", list(SUBSETS))
def test_four_processes_at_once_equal_one_serial_run(
    subsets: str, state_uri: str, landing: Path, serial: dict[str, Any], tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    env = cli_env(landing, lake, landing.parent / "trust.json", state_uri, SMECREDIT_INGEST_BATCH="3")
    workers = [ingest_process(env, *args) for args in SUBSETS[subsets]]
    outputs = [w.communicate(timeout=900) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
    landed = [line for out, _ in outputs for line in out.splitlines() if line.startswith("{")]
    assert len(landed) == len(list(landing.glob("*/*")))  # each bundle landed by one worker
    check_consistent(lake, landing, state_uri)
    mine = facts(lake)
    assert mine["records"] == serial["records"] and mine["quarantine"] == serial["quarantine"]
    assert mine["totals"] == serial["totals"]
    # Which of the two copies of the re-exported bundle verified its records and which found
    # them duplicates depends on who committed first; every other bundle's row is the same.
    by_uri = {row[0]: row for row in mine["log"]}
    for row in serial["log"]:
        if "supply_chain" not in row[0] or by_uri[row[0]][2] == row[2]:
            assert by_uri[row[0]] == row
    with StateStore(state_uri) as store:
        assert store.pending_files() == {}
        assert store.committed() == {str(p) for p in landing.glob("*/*")}
