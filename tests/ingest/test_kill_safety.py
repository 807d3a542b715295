"""SIGKILL a real ``smecredit ingest`` at every step of the commit protocol, one kill after
another on the same lake, then add a re-export of each bundle a kill left half-landed (sorting
before it) and rerun: the lake equals a clean run's, record for record and row for row."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from pipelines.ingest import IngestConfig, ingest
from pipelines.ledger_state import StateStore, state_uri
from pipelines.simulate import WorldConfig, simulate
from tests.ingest.lakes import check_consistent, cli_env, facts, run_ingest

# One kill per step, each on a later visit of a step so that every run gets somewhere first.
KILLS = ("files_written:3", "planned:2", "verified_written:4", "committed:2", "claimed:5", "files_written:2")


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(firms=12, months=2, seed=4), out)
    return out


# Seven real processes, about 11 s of CPU each; the limit leaves room for a busy machine.
@pytest.mark.timeout(1800)
def test_kills_at_every_step_then_a_reexport_and_a_rerun_equal_a_clean_run(
    small_world: Path, tmp_path: Path
) -> None:
    landing, lake, trust = tmp_path / "landing", tmp_path / "lake", small_world / "trust.json"
    shutil.copytree(small_world / "landing", landing)
    for kill in KILLS:
        code, err = run_ingest(
            cli_env(landing, lake, trust, SMECREDIT_INGEST_BATCH="4", SMECREDIT_TEST_KILL_AT=kill)
        )
        assert code == -signal.SIGKILL, f"{kill}: not killed ({code}): {err[-2000:]}"
    with StateStore(state_uri(str(lake))) as store:
        pending = store.pending_files()
        committed = store.committed()
    assert committed
    # The last kill came after the second bundle of a window wrote its files: a window commits
    # its bundles at once, so the first two are written and uncommitted; the others of the
    # window were recorded as pending with them, and wrote nothing.
    written = {name: files for name, files in pending.items() if any((lake / f).exists() for f in files)}
    assert len(written) == 2 and len(pending) > 2
    for half_landed, files in written.items():
        assert all((lake / f).exists() for f in files)
        source, name = Path(half_landed).parent.name, Path(half_landed).name
        shutil.copytree(half_landed, landing / source / f"0000-reexport-{name}")  # same height, sorts first
    code, err = run_ingest(cli_env(landing, lake, trust, SMECREDIT_INGEST_BATCH="4"))
    assert code == 0, err[-2000:]
    clean = tmp_path / "clean"
    ingest(IngestConfig(str(landing), str(clean), str(trust)))
    check_consistent(lake, landing)
    check_consistent(clean, landing)
    assert facts(lake) == facts(clean)
    assert facts(clean)["totals"]["duplicates"] > 0  # the re-export's records were duplicates once
    with StateStore(state_uri(str(lake))) as store:
        assert store.pending_files() == {}
        assert store.committed() == {str(p) for p in landing.glob("*/*")}
