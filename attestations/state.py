"""Verifier memory (spec section 8): trusted header hashes and verified records, per chain.

``MemoryStore`` serves tests and one-off checks; ``SqliteStore`` persists across runs: the
checkpoints, the id and leaf hash of every verified record (chains and bundles by number),
the latest quarantine of every bundle line (its first 4 KiB) and a log of runs, committed in
one transaction per bundle. Callers that write the records themselves do so before
committing (see ``pipelines.verify_cli``), so a crash never leaves a record remembered but
not written.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Collection, Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any

from attestations.errors import StateError
from attestations.verifier import BundleResult

_CHUNK = 500  # SQLite's default limit on host parameters is 999


def _chunks(items: Collection[Any]) -> Iterator[list[Any]]:
    seq = list(items)
    for i in range(0, len(seq), _CHUNK):
        yield seq[i : i + _CHUNK]


class MemoryStore:
    """An in-memory ``VerifierStore``."""

    def __init__(self) -> None:
        self.headers: dict[str, dict[int, bytes]] = {}
        self.records: dict[str, dict[str, bytes]] = {}
        self.results: list[BundleResult] = []

    def trusted_headers(self, chain_id: str, heights: Collection[int]) -> dict[int, bytes]:
        known = self.headers.get(chain_id, {})
        return {h: known[h] for h in heights if h in known}

    def known_records(self, chain_id: str, record_ids: Collection[str]) -> dict[str, bytes]:
        known = self.records.get(chain_id, {})
        return {r: known[r] for r in record_ids if r in known}

    def commit(self, chain_id: str, result: BundleResult) -> None:
        self.headers.setdefault(chain_id, {}).update(result.trusted_headers)
        self.records.setdefault(chain_id, {}).update((r.record_id, r.leaf_hash) for r in result.verified)
        self.results.append(result)


# The state keeps the start of a quarantined line, enough to recognise it; the whole line
# is in the bundle's quarantine output (the lake's quarantine table, verify's files).
RAW_KEPT = 4096

# Version 2 numbers chains and bundles, so that a ``verified_record`` row holds two integers
# where it held the chain's id and the bundle's path: a fifth less time to commit a bundle
# (1,000,000 records: about 0.5 s of 16). Files of version 1 are upgraded when opened.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trusted_header (
    chain_id TEXT NOT NULL, height INTEGER NOT NULL, header_hash BLOB NOT NULL,
    sealed_at TEXT NOT NULL, PRIMARY KEY (chain_id, height));
CREATE TABLE IF NOT EXISTS chain (chain_no INTEGER PRIMARY KEY, chain_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS bundle (bundle_no INTEGER PRIMARY KEY, bundle_name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS verified_record (
    chain_no INTEGER NOT NULL, record_id TEXT NOT NULL, leaf_hash BLOB NOT NULL,
    bundle_no INTEGER NOT NULL, line_no INTEGER NOT NULL,
    PRIMARY KEY (chain_no, record_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    bundle_name TEXT NOT NULL, line_no INTEGER NOT NULL, bundle_id TEXT NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, raw BLOB NOT NULL,
    PRIMARY KEY (bundle_name, line_no));
CREATE TABLE IF NOT EXISTS bundle_run (
    run INTEGER PRIMARY KEY AUTOINCREMENT, bundle_name TEXT NOT NULL, bundle_id TEXT NOT NULL,
    summary TEXT NOT NULL);
"""

# Version 1's records (chain id and bundle path in every row) moved to version 2's numbers,
# in one transaction: the old table set aside, version 2's tables created (``_SCHEMA``),
# chains and bundles numbered in name order, the records copied.
_UPGRADE_FROM_1 = (
    "BEGIN IMMEDIATE;\nALTER TABLE verified_record RENAME TO verified_record_1;\n"
    + _SCHEMA
    + """
INSERT INTO chain (chain_id) SELECT DISTINCT chain_id FROM verified_record_1 ORDER BY chain_id;
INSERT INTO bundle (bundle_name) SELECT DISTINCT bundle_name FROM verified_record_1 ORDER BY bundle_name;
INSERT INTO verified_record
    SELECT c.chain_no, v.record_id, v.leaf_hash, b.bundle_no, v.line_no FROM verified_record_1 v
    JOIN chain c ON c.chain_id = v.chain_id JOIN bundle b ON b.bundle_name = v.bundle_name
    ORDER BY c.chain_no, v.record_id;
DROP TABLE verified_record_1;
PRAGMA user_version = 2;
COMMIT;
"""
)


def layout_version(db: sqlite3.Connection) -> int:
    """The layout of a state file: 2, 1 (records keyed by the chain's id), or 0 (empty)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(verified_record)")}
    if not columns:
        return 0
    return 1 if "chain_id" in columns else 2


def verified_rows(db: sqlite3.Connection, chain_id: str) -> sqlite3.Cursor:
    """``(record_id, leaf_hash, bundle_name)`` of the chain's verified records in id order,
    from a state file of either layout (``pipelines.ledger_state.migrate`` reads old ones)."""
    if layout_version(db) == 1:
        return db.execute(
            "SELECT record_id, leaf_hash, bundle_name FROM verified_record WHERE chain_id = ? "
            "ORDER BY record_id",
            (chain_id,),
        )
    return db.execute(
        "SELECT v.record_id, v.leaf_hash, b.bundle_name FROM verified_record v "
        "JOIN chain c ON c.chain_no = v.chain_no JOIN bundle b ON b.bundle_no = v.bundle_no "
        "WHERE c.chain_id = ? ORDER BY v.record_id",
        (chain_id,),
    )


class SqliteStore:
    """A ``VerifierStore`` in one SQLite file, which also keeps the verified records, the
    quarantine (latest outcome per bundle line) and a log of every bundle run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The first connection switches a new file to WAL, which takes SQLite's exclusive
        # lock without waiting for a busy one: processes opening a new state at the same
        # moment would fail with "database is locked". They open it in turn, under a flock
        # on ``<file>.lock`` beside it.
        opening = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(opening, fcntl.LOCK_EX)
            self._db = sqlite3.connect(self.path)
            self._refuse_newer()
            # WAL with NORMAL sync stays consistent on a crash and may lose only the last
            # bundle's commit on power loss, which the next run then re-verifies.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._create_or_upgrade()
        finally:
            os.close(opening)  # lets the flock go

    def _refuse_newer(self) -> None:
        """Raise ``StateError``, leaving the file as it is, when a newer version wrote it."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._db.close()
            raise StateError(
                f"{self.path}: state of layout {version}, written by a newer version "
                f"(this one reads up to {SCHEMA_VERSION})"
            )

    def _create_or_upgrade(self) -> None:
        """Create the tables, or bring a version 1 file to version 2 (under the opening lock)."""
        if layout_version(self._db) == 1:
            try:
                self._db.executescript(_UPGRADE_FROM_1)
            except sqlite3.Error:
                self._db.rollback()
                raise
        self._db.executescript(_SCHEMA)
        if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file, so that the file alone is complete."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def trusted_headers(self, chain_id: str, heights: Collection[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for chunk in _chunks(heights):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT height, header_hash FROM trusted_header WHERE chain_id = ? AND height IN ({marks})",
                [chain_id, *chunk],
            )
            found.update(rows)
        return found

    def known_records(self, chain_id: str, record_ids: Collection[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        chain_no = self._number("chain", "chain_id", chain_id)
        if chain_no is None:
            return found
        for chunk in _chunks(record_ids):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT record_id, leaf_hash FROM verified_record "
                f"WHERE chain_no = ? AND record_id IN ({marks})",
                [chain_no, *chunk],
            )
            found.update(rows)
        return found

    def _number(self, table: str, column: str, name: str, give: bool = False) -> int | None:
        """The number of ``name`` in ``table`` (``chain`` or ``bundle``); with ``give``, a new
        one when it has none (within the caller's transaction)."""
        if give:
            self._db.execute(f"INSERT OR IGNORE INTO {table} ({column}) VALUES (?)", (name,))
        row = self._db.execute(f"SELECT {table}_no FROM {table} WHERE {column} = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def commit(self, chain_id: str, result: BundleResult) -> None:
        with self._db:  # one transaction: all of the bundle or none of it
            self._db.executemany(
                "INSERT OR IGNORE INTO trusted_header VALUES (?, ?, ?, ?)",
                [(chain_id, h, digest, result.sealed_at[h]) for h, digest in result.trusted_headers.items()],
            )
            # In key order, the inserts append to the index instead of splitting pages all
            # over it: about twice as fast for a bundle of 100,000 records.
            chain_no = self._number("chain", "chain_id", chain_id, give=True)
            bundle_no = self._number("bundle", "bundle_name", result.name, give=True)
            self._db.executemany(
                "INSERT INTO verified_record VALUES (?, ?, ?, ?, ?)",
                (
                    (chain_no, r.record_id, r.leaf_hash, bundle_no, r.line_no)
                    for r in sorted(result.verified, key=attrgetter("record_id"))
                ),
            )
            self._db.execute("DELETE FROM quarantine WHERE bundle_name = ?", (result.name,))
            self._db.executemany(
                "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (result.name, q.line_no, result.bundle_id, q.reason, q.detail, q.raw[:RAW_KEPT])
                    for q in result.quarantined
                ],
            )
            self._db.execute(
                "INSERT INTO bundle_run (bundle_name, bundle_id, summary) VALUES (?, ?, ?)",
                (result.name, result.bundle_id, json.dumps(result.summary(), sort_keys=True)),
            )

    def forget(self, chain_id: str, result: BundleResult) -> None:
        """Undo ``commit`` for a bundle that could not be landed: its verified records,
        quarantine and run are dropped (the headers it proved stay trusted), so the next run
        verifies it again instead of taking its records for duplicates."""
        with self._db:
            self._db.execute(
                "DELETE FROM verified_record "
                "WHERE chain_no = (SELECT chain_no FROM chain WHERE chain_id = ?) "
                "AND bundle_no = (SELECT bundle_no FROM bundle WHERE bundle_name = ?)",
                (chain_id, result.name),
            )
            self._db.execute("DELETE FROM quarantine WHERE bundle_name = ?", (result.name,))
            self._db.execute("DELETE FROM bundle_run WHERE bundle_name = ?", (result.name,))

    def bundle_runs(self) -> dict[str, dict[str, Any]]:
        """The latest run summary of every bundle the store has seen, by bundle name."""
        rows = self._db.execute("SELECT bundle_name, summary FROM bundle_run ORDER BY run")
        return {name: json.loads(summary) for name, summary in rows}
