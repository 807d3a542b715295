"""``attestations.state.SqliteStore`` opened by several processes at once: the first one
creates the file and switches it to WAL, and none of them fails; files of the first layout
are upgraded in place, files of a newer one refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from attestations.errors import StateError
from attestations.state import SCHEMA_VERSION, SqliteStore, verified_rows
from attestations.verifier import BundleResult, VerifiedRecord
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


# Version 1 of the state's layout, as files written before chains and bundles were numbered.
LAYOUT_1 = """
CREATE TABLE trusted_header (
    chain_id TEXT NOT NULL, height INTEGER NOT NULL, header_hash BLOB NOT NULL,
    sealed_at TEXT NOT NULL, PRIMARY KEY (chain_id, height));
CREATE TABLE verified_record (
    chain_id TEXT NOT NULL, record_id TEXT NOT NULL, leaf_hash BLOB NOT NULL,
    bundle_name TEXT NOT NULL, line_no INTEGER NOT NULL,
    PRIMARY KEY (chain_id, record_id)) WITHOUT ROWID;
CREATE TABLE quarantine (
    bundle_name TEXT NOT NULL, line_no INTEGER NOT NULL, bundle_id TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, raw BLOB NOT NULL,
    PRIMARY KEY (bundle_name, line_no));
CREATE TABLE bundle_run (
    run INTEGER PRIMARY KEY AUTOINCREMENT, bundle_name TEXT NOT NULL, bundle_id TEXT NOT NULL,
    summary TEXT NOT NULL);
"""

OLD_RECORDS = [
    ("chain-a", "r1", b"1" * 32, "/landing/b2", 1),
    ("chain-a", "r2", b"2" * 32, "/landing/b1", 2),
    ("chain-b", "r1", b"3" * 32, "/landing/b1", 1),
]


def _version_1(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(LAYOUT_1)
        db.executemany("INSERT INTO verified_record VALUES (?, ?, ?, ?, ?)", OLD_RECORDS)
        db.execute(
            "INSERT INTO trusted_header VALUES ('chain-a', 5, ?, '2025-01-01T00:00:00Z')", (b"h" * 32,)
        )
        db.execute(
            "INSERT INTO bundle_run (bundle_name, bundle_id, summary) VALUES ('/landing/b1', 'b1', '{}')"
        )
    db.close()


def _result(name: str, records: dict[str, bytes]) -> BundleResult:
    out = BundleResult(
        name=name, bundle_id=name, source="social_insurance", chain_id="chain-a", lines=len(records)
    )
    out.verified = [
        VerifiedRecord(i + 1, rid, 1, i, "{}", leaf, "2025-01-01T00:00:00Z", {})
        for i, (rid, leaf) in enumerate(sorted(records.items()))
    ]
    return out


def test_a_version_1_state_is_upgraded_in_place_and_keeps_what_it_remembered(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger-state.sqlite"
    _version_1(path)
    with closing(sqlite3.connect(path)) as db:
        before = {c: list(verified_rows(db, c)) for c in ("chain-a", "chain-b")}
    assert before["chain-a"] == [("r1", b"1" * 32, "/landing/b2"), ("r2", b"2" * 32, "/landing/b1")]
    with SqliteStore(path) as store:
        assert store.known_records("chain-a", ["r1", "r2", "r9"]) == {"r1": b"1" * 32, "r2": b"2" * 32}
        assert store.known_records("chain-b", ["r1", "r2"]) == {"r1": b"3" * 32}
        assert store.known_records("chain-c", ["r1"]) == {}
        assert store.trusted_headers("chain-a", [5]) == {5: b"h" * 32}
        assert store.bundle_runs() == {"/landing/b1": {}}
        store.commit("chain-a", _result("/landing/b3", {"r3": b"4" * 32}))
        with pytest.raises(sqlite3.IntegrityError):  # the key still decides duplicates
            store.commit("chain-a", _result("/landing/b4", {"r3": b"5" * 32}))
        store.forget("chain-a", _result("/landing/b1", {}))
        assert store.known_records("chain-a", ["r1", "r2", "r3"]) == {"r1": b"1" * 32, "r3": b"4" * 32}
        assert store.known_records("chain-b", ["r1"]) == {"r1": b"3" * 32}  # another chain's b1 stays
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert list(verified_rows(db, "chain-b")) == before["chain-b"]
        columns = {row[1] for row in db.execute("PRAGMA table_info(verified_record)")}
    assert columns == {"chain_no", "record_id", "leaf_hash", "bundle_no", "line_no"}
    with SqliteStore(path) as store:  # opened again: nothing to upgrade
        assert store.known_records("chain-a", ["r3"]) == {"r3": b"4" * 32}


def test_a_state_of_a_newer_layout_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "ledger-state.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(StateError, match="written by a newer version"):
        SqliteStore(path)
    assert path.read_bytes() == before
