"""Landing a verified bundle in the lake: its verified partitions, its quarantine and its
log row, each written atomically under a name derived from the bundle."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.errors import IngestError
from pipelines.ingest.config import IngestConfig
from pipelines.ingest.tables import quarantine_table, without
from pipelines.ingest.verify import VerifiedBundle
from pipelines.lake import write_parquet
from pipelines.schemas import INGEST_LOG


def land_tables(cfg: IngestConfig, source: str, key: str, tables: dict[str, pa.Table]) -> None:
    """Write each kind's rows to ``verified/<source>/<kind>/sealed_month=YYYY-MM/``."""
    lake = cfg.lake_uri.rstrip("/")
    for kind, table in tables.items():
        months = pc.strftime(table["sealed_at"], format="%Y-%m")
        for month in sorted(set(months.to_pylist())):
            part = table.filter(pc.equal(months, month))
            write_parquet(f"{lake}/verified/{source}/{kind}/sealed_month={month}/part-{key}.parquet", part)


def land_bundle(
    cfg: IngestConfig, item: VerifiedBundle, failed: dict[str, str], validate_seconds: float
) -> dict[str, Any]:
    """Write one bundle's verified partitions, quarantine and log row; return the row.

    Raises:
        IngestError: the bundle's lines do not add up to its outcomes (nothing is logged).
    """
    started = time.perf_counter()
    result, lake = item.result, cfg.lake_uri.rstrip("/")
    mine = {r.record_id: failed[r.record_id] for r in result.verified if r.record_id in failed}
    raw: dict[str, tuple[int, bytes]] = {}
    if mine:
        assert item.files.records is not None  # verified rows came from it
        lines = item.files.records.split(b"\n")  # once per bundle, not once per failed row
        raw = {r.record_id: (r.line_no, lines[r.line_no - 1]) for r in result.verified if r.record_id in mine}
    land_tables(cfg, item.source, item.key, {k: without(t, set(mine)) for k, t in item.tables.items()})
    quarantine = quarantine_table(result, item.uri, mine, raw)
    write_parquet(f"{lake}/quarantine/source={item.source}/part-{item.key}.parquet", quarantine)
    counts: dict[str, int] = {}
    for reason in quarantine["reason"].to_pylist():
        counts[reason] = counts.get(reason, 0) + 1
    landed = len(result.verified) - len(mine)
    if result.lines != landed + result.duplicates + sum(counts.values()):
        raise IngestError(f"bundle {item.uri}: counts do not add up; refusing to land it")
    row: dict[str, Any] = {
        "bundle_id": result.bundle_id,
        "bundle_uri": item.uri,
        "chain_id": result.chain_id or "",
        "lines": result.lines,
        "verified": landed,
        "duplicates": result.duplicates,
        "quarantined": sum(counts.values()),
        "quarantined_by_reason": json.dumps(counts, sort_keys=True),
        "validation": "failed_rows" if mine else ("passed" if result.verified else "skipped"),
        "verify_seconds": item.verify_seconds,
        "validate_seconds": validate_seconds,
        "land_seconds": time.perf_counter() - started,
        "ingested_at": datetime.now(UTC),
    }
    log = pa.Table.from_pylist([row], schema=INGEST_LOG)
    write_parquet(f"{lake}/ingest_log/source={item.source}/part-{item.key}.parquet", log)
    return row
