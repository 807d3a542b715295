"""``attestations.state.SqliteStore`` opened by several processes at once: the first one
creates the file and switches it to WAL, and none of them fails."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from attestations.state import SqliteStore
from tests.conftest import ROOT

OPEN_AT = """
import sys, time
from attestations.state import SqliteStore
path, at = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, at - time.time()))
with SqliteStore(path) as store:
    assert store.known_records("chain", ["r"]) == {}
print("opened", flush=True)
"""


def test_processes_opening_a_new_state_at_the_same_moment_all_open_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger-state.sqlite"
    for attempt in range(3):  # three fresh files: the race is at the file's creation
        target = path.with_name(f"{attempt}-{path.name}")
        at = str(time.time() + 2.0)
        workers = [
            subprocess.Popen([sys.executable, "-c", OPEN_AT, str(target), at], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(6)
        ]  # fmt: skip
        outcomes = [w.communicate(timeout=120) for w in workers]
        assert [out for out, _ in outcomes] == ["opened\n"] * 6, [err[-300:] for _, err in outcomes]
        with SqliteStore(target) as store:
            assert store.bundle_runs() == {}
