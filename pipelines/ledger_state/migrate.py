"""Importing the state of the old layout, ``<lake>/state/<chain_id>.sqlite`` (one SQLite file
per chain, copied down from and up to the lake), into the state store on first use.

The import runs once per chain, under the chain's lock, in one transaction that also marks
the chain migrated (``state_meta`` key ``migrated:<chain>``): a killed import leaves nothing
and is redone. Trusted headers and verified records are copied as they are; every bundle the
old state ran is recorded as committed with outcome ``migrated`` and its last summary (its
lake files were written under the old layout and are not listed). The old file is left in
place, untouched.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, insert

from attestations.state import verified_rows
from pipelines.lake import filesystem, safe_name
from pipelines.ledger_state.schema import bundle, state_meta, trusted_header, verified_record
from pipelines.ledger_state.store import StateStore, insert_tuples

ROWS = 50_000  # rows copied per statement: memory stays flat for any size of state


def old_state_uri(lake_uri: str, chain_id: str) -> str:
    """Where the old layout kept the state of ``chain_id``."""
    return f"{lake_uri.rstrip('/')}/state/{safe_name(chain_id)}.sqlite"


def migrate_old_state(store: StateStore, lake_uri: str, chain_id: str) -> dict[str, Any] | None:
    """Import ``state/<chain_id>.sqlite`` of the lake if the chain was never migrated; what
    was imported (None when the chain was migrated before)."""
    key = f"migrated:{chain_id}"
    if store.meta(key) is not None:
        return None
    with store.chain_lock(chain_id):
        if store.meta(key) is not None:  # another worker did it while this one waited
            return None
        fs, old = filesystem(old_state_uri(lake_uri, chain_id))
        with tempfile.TemporaryDirectory(prefix="smecredit-migrate-") as tmp, store.write() as conn:
            done: dict[str, Any] = {"from": None, "headers": 0, "records": 0, "bundles": 0}
            if fs.exists(old):
                local = Path(tmp) / "old.sqlite"
                fs.get_file(old, str(local))
                done = {"from": old_state_uri(lake_uri, chain_id), **_import(store, conn, local, chain_id)}
            done["at"] = datetime.now(UTC).isoformat()
            conn.execute(insert(state_meta).values(key=key, value=json.dumps(done, sort_keys=True)))
        return done


def _copy(
    conn: Connection, rows: sqlite3.Cursor, table: Table, columns: list[str], convert: Any = None
) -> int:
    count = 0
    while batch := rows.fetchmany(ROWS):
        insert_tuples(conn, table, columns, batch if convert is None else [convert(r) for r in batch])
        count += len(batch)
    return count


def _import(store: StateStore, conn: Connection, path: Path, chain_id: str) -> dict[str, int]:
    """Copy the old file's headers, bundles and records; the bundles first, so that each record
    refers to its bundle's number (none when the old state did not log its bundle)."""
    old = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        headers = _copy(
            conn,
            old.execute(
                "SELECT chain_id, height, header_hash, sealed_at FROM trusted_header WHERE chain_id = ? "
                "ORDER BY height",
                (chain_id,),
            ),
            trusted_header,
            ["chain_id", "height", "header_hash", "sealed_at"],
        )
        runs: dict[str, tuple[str, str]] = {}
        for name, bundle_id, summary in old.execute(
            "SELECT bundle_name, bundle_id, summary FROM bundle_run ORDER BY run"
        ):
            runs[name] = (bundle_id, summary)
        now = datetime.now(UTC)
        numbers = dict(zip(sorted(runs), store.bundle_numbers(conn, len(runs)), strict=True))
        rows = [
            {**_bundle_row(name, chain_id, bundle_id, summary, now), "bundle_no": numbers[name]}
            for name, (bundle_id, summary) in sorted(runs.items())
        ]
        for i in range(0, len(rows), ROWS):
            conn.execute(insert(bundle), rows[i : i + ROWS])
        chain_no = store.chain_number(conn, chain_id)
        records = _copy(
            conn,
            verified_rows(old, chain_id),
            verified_record,
            ["chain_no", "record_id", "leaf_hash", "bundle_no"],
            lambda r: (chain_no, r[0], r[1], numbers.get(r[2])),
        )
    finally:
        old.close()
    return {"headers": headers, "records": records, "bundles": len(rows)}


def _bundle_row(name: str, chain_id: str, bundle_id: str, summary: str, now: datetime) -> dict[str, Any]:
    parsed = json.loads(summary)
    quarantined = parsed.get("quarantined", {})
    return {
        "bundle_name": name,
        "chain_id": chain_id,
        "bundle_id": bundle_id,
        "outcome": "migrated",
        "lines": int(parsed.get("lines", 0)),
        "verified": int(parsed.get("verified", 0)),
        "duplicates": int(parsed.get("duplicates", 0)),
        "quarantined": sum(quarantined.values()) if isinstance(quarantined, dict) else int(quarantined),
        "summary": json.dumps(parsed, sort_keys=True),
        "committed_at": now,
    }
