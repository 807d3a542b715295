"""Write verified lake rows by hand, for tests that need exact inputs (features, review)."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.schemas import KINDS, record_schema

SOURCE_OF = {kind: source for source, kinds in KINDS.items() for kind in kinds if source != "housing_fund"}
_counter = itertools.count()


def uscc(n: int) -> str:
    """A valid unified social credit code for firm number ``n``."""
    from attestations.uscc import make_uscc

    return make_uscc(f"91310000{n:09d}")


def ts(d: date | str, hour: int = 12) -> datetime:
    day = date.fromisoformat(d) if isinstance(d, str) else d
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def row(
    kind: str, firm: str, sealed: date | str, event: date | str | None = None, **body: Any
) -> dict[str, Any]:
    """One verified row of ``kind``: attestation columns made up, body as given."""
    n = next(_counter)
    rid = body.pop("record_id", f"rec-{kind}-{n}")
    return {
        "record_id": rid,
        "firm_id": firm,
        "event_time": ts(event or sealed, 9),
        "sealed_at": ts(sealed),
        "chain_id": "test-chain",
        "height": n,
        "index": 0,
        "leaf_hash": hashlib.sha256(rid.encode()).hexdigest(),
        "bundle_id": "hand-made",
        **body,
    }


def land(
    lake: Path, kind: str, rows: list[dict[str, Any]], source: str | None = None, name: str = "x"
) -> None:
    """Write ``rows`` of ``kind`` into ``lake`` the way ingest lands them."""
    source = source or SOURCE_OF[kind]
    by_month: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_month.setdefault(r["sealed_at"].strftime("%Y-%m"), []).append(r)
    for month, part in by_month.items():
        folder = lake / "verified" / source / kind / f"sealed_month={month}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(part, schema=record_schema(kind))
        pq.write_table(table, folder / f"part-{name}-{next(_counter)}.parquet")
