"""The index of landed invoice numbers (``landed_invoice``), filled from the lake once.

Every bundle's commit records the invoice rows it landed, so a store created with this
release and used from its first run needs nothing more. A store of schema version 1, or a
new store beside a lake of the old layout, does not know the invoices landed before: they are
read from ``verified/supply_chain/invoice/`` once, in one transaction that also marks the
store indexed (``state_meta`` key ``indexed:invoices``), so a killed run leaves nothing and
the next redoes it.

The lake may hold files of bundles that are written but not committed (a worker between its
writes and its commit, or a killed attempt): those are the store's ``pending_file`` rows,
and are left out. The transaction holds the store's write lock (SQLite) or an exclusive lock
on ``pending_file`` and ``landed_invoice`` (PostgreSQL) throughout, so no bundle plans or
commits files meanwhile; rows already there are skipped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow.dataset as ds
from sqlalchemy import insert, select

from pipelines.lake import filesystem
from pipelines.ledger_state.schema import landed_invoice, pending_file, state_meta
from pipelines.ledger_state.store import INVOICE_COLUMNS, StateStore, insert_tuples

INDEXED = "indexed:invoices"
INVOICES = "verified/supply_chain/invoice"


def index_landed_invoices(store: StateStore, lake_uri: str) -> dict[str, Any] | None:
    """Record in ``store`` every invoice row of the lake's committed files, unless done before;
    what was indexed (None when the store was indexed already)."""
    if store.meta(INDEXED) is not None:
        return None
    fs, root = filesystem(lake_uri)
    with store.write() as conn:
        if store.backend == "postgresql":
            conn.exec_driver_sql("LOCK TABLE pending_file, landed_invoice IN EXCLUSIVE MODE")
        if conn.execute(select(state_meta.c.value).where(state_meta.c.key == INDEXED)).first():
            return None  # another worker did it while this one waited
        pending = set(conn.execute(select(pending_file.c.path)).scalars())
        done: dict[str, Any] = {"files": 0, "rows": 0}
        if fs.exists(f"{root}/{INVOICES}"):
            data = ds.dataset(f"{root}/{INVOICES}", format="parquet", partitioning="hive", filesystem=fs)
            for fragment in data.get_fragments():
                if fragment.path.removeprefix(f"{root}/") in pending:
                    continue
                table = fragment.to_table(columns=INVOICE_COLUMNS)
                columns = (table[c].to_pylist() for c in INVOICE_COLUMNS)
                rows = sorted({row for row in zip(*columns, strict=True) if row[0] is not None})
                insert_tuples(conn, landed_invoice, INVOICE_COLUMNS, rows, skip_known=True)
                done["files"] += 1
                done["rows"] += len(rows)
        done["at"] = datetime.now(UTC).isoformat()
        conn.execute(insert(state_meta).values(key=INDEXED, value=json.dumps(done, sort_keys=True)))
    return done
