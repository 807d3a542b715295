"""Temporary folders and lake objects of a killed run are removed by the next run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.leftovers import state_dir_prefix, sweep_lake_tmp, sweep_state_dirs


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_state_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"smecredit-state-{_dead_pid()}-abc"
    mine = tmp_path / f"{state_dir_prefix()}def"
    old_style_old, old_style_new = tmp_path / "smecredit-state-x1", tmp_path / "smecredit-state-x2"
    unrelated = tmp_path / "something-else"
    for folder in (dead, mine, old_style_old, old_style_new, unrelated):
        folder.mkdir()
        (folder / "state.sqlite").write_bytes(b"x" * 1000)
    two_days_ago = time.time() - 2 * 86_400
    os.utime(old_style_old, (two_days_ago, two_days_ago))
    removed = sweep_state_dirs(str(tmp_path))
    assert sorted(removed) == sorted([str(dead), str(old_style_old)])
    assert mine.exists() and old_style_new.exists() and unrelated.exists()


def test_lake_temporaries_of_this_target_and_old_ones_are_removed(tmp_path: Path) -> None:
    state = tmp_path / "lake" / "state"
    state.mkdir(parents=True)
    names = [".tmp-chain-1.sqlite-aa", ".tmp-chain-2.sqlite-bb", ".tmp-0123abcd", "chain-1.sqlite"]
    for name in names:
        (state / name).write_bytes(b"x")
    hour_and_more = time.time() - 3_700
    os.utime(state / ".tmp-0123abcd", (hour_and_more, hour_and_more))
    removed = sweep_lake_tmp(str(state), "chain-1.sqlite")
    assert sorted(Path(p).name for p in removed) == [".tmp-0123abcd", ".tmp-chain-1.sqlite-aa"]
    assert sorted(p.name for p in state.iterdir()) == [".tmp-chain-2.sqlite-bb", "chain-1.sqlite"]
    assert sweep_lake_tmp(str(tmp_path / "nowhere"), "x") == []


def test_the_state_keeps_only_the_start_of_a_quarantined_line_and_forgets_on_request(tmp_path: Path) -> None:
    from attestations.state import RAW_KEPT, SqliteStore
    from attestations.verifier import BundleResult, QuarantinedLine, VerifiedRecord

    result = BundleResult("b", "b", "social_insurance", "c", 2)
    result.quarantined.append(QuarantinedLine(1, "line_invalid", "not JSON", b"x" * 2_000_000))
    result.verified.append(VerifiedRecord(2, "r1", 0, 0, "{}", b"h" * 32, "2025-01-01T00:00:00Z", {}))
    with SqliteStore(tmp_path / "s.sqlite") as store:
        store.commit("c", result)
        assert store.known_records("c", ["r1"]) == {"r1": b"h" * 32} and "b" in store.bundle_runs()
        (kept,) = store._db.execute("SELECT length(raw) FROM quarantine").fetchone()
        assert kept == RAW_KEPT
        store.forget("c", result)
        assert store.known_records("c", ["r1"]) == {} and store.bundle_runs() == {}
