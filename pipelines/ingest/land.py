"""Landing a verified bundle in the lake: its verified partitions, its quarantine and its
log row, each written atomically under a name derived from the bundle, and the list of those
names, known before any is written (``bundle_paths``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.errors import IngestError
from pipelines.ingest.config import IngestConfig
from pipelines.ingest.killpoints import reached
from pipelines.ingest.tables import quarantine_table, without
from pipelines.ingest.verify import VerifiedBundle
from pipelines.lake import write_parquet
from pipelines.schemas import INGEST_LOG


def _parts(
    source: str, key: str, tables: dict[str, pa.Table]
) -> Iterator[tuple[str, pa.Table, pa.Array, str]]:
    for kind, table in tables.items():
        months = pc.strftime(table["sealed_at"], format="%Y-%m")
        for month in sorted(set(months.to_pylist())):
            yield f"verified/{source}/{kind}/sealed_month={month}/part-{key}.parquet", table, months, month


def log_paths(source: str, key: str) -> list[str]:
    """The bundle's quarantine and ``ingest_log`` files, relative to the lake."""
    return [
        f"quarantine/source={source}/part-{key}.parquet",
        f"ingest_log/source={source}/part-{key}.parquet",
    ]


def bundle_paths(item: VerifiedBundle, failed: dict[str, str]) -> list[str]:
    """Every lake file (relative to the lake) that ``land_bundle`` writes for ``item``: the
    commit protocol records them as pending before any is written."""
    mine = {r.record_id for r in item.result.verified if r.record_id in failed}
    tables = {k: without(t, mine) for k, t in item.tables.items()}
    return [path for path, *_ in _parts(item.source, item.key, tables)] + log_paths(item.source, item.key)


def land_tables(cfg: IngestConfig, source: str, key: str, tables: dict[str, pa.Table]) -> None:
    """Write each kind's rows to ``verified/<source>/<kind>/sealed_month=YYYY-MM/``."""
    lake = cfg.lake_uri.rstrip("/")
    for path, table, months, month in _parts(source, key, tables):
        write_parquet(f"{lake}/{path}", table.filter(pc.equal(months, month)))


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
    reached("verified_written")
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
