"""What a bundle leaves in the lake when it cannot be landed: no bundle blocks another.

Two cases, each with a quarantine file and an ``ingest_log`` row under the bundle's key, so
the bundle is accounted for and the rest of the run goes on:

- **unreadable**: the collector refused the bundle before reading it (a link, a device, a
  FIFO, a path outside the landing root, over ``SMECREDIT_MAX_BUNDLE_BYTES``). No line was
  read, so ``lines`` is 0; the quarantine holds one entry at ``line_no`` 0 with reason
  ``bundle_unreadable`` and the cause, and the log row's ``validation`` is
  ``bundle_unreadable``.
- **land failed**: the bundle was verified but writing it failed (a record too large for a
  column chunk, an Arrow error, a GX crash). Every line the verifier had verified is
  quarantined with reason ``land_failed: <error>`` and its raw bytes; the lines the verifier
  quarantined keep their own reasons; duplicates stay duplicates. The log row's
  ``validation`` is ``land_failed``.

Neither is committed to the verifier's memory, so the next run tries the bundle again (and
rewrites the same two files) until it lands.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import pyarrow as pa

from attestations.verifier import BundleResult
from pipelines.ingest.tables import rejected_rows
from pipelines.lake import bundle_key, filesystem, write_parquet
from pipelines.landing import UNREADABLE
from pipelines.notify import one_line
from pipelines.schemas import INGEST_LOG, QUARANTINE, SOURCES

LAND_FAILED = "land_failed"


def _log_row(
    bundle_id: str, uri: str, chain_id: str, lines: int, counts: dict[str, int], **extra: Any
) -> dict[str, Any]:
    return {
        "bundle_id": bundle_id,
        "bundle_uri": uri,
        "chain_id": chain_id,
        "lines": lines,
        "verified": 0,
        "duplicates": extra.pop("duplicates", 0),
        "quarantined": sum(counts.values()),
        "quarantined_by_reason": json.dumps(counts, sort_keys=True),
        "verify_seconds": extra.pop("verify_seconds", 0.0),
        "validate_seconds": 0.0,
        "land_seconds": 0.0,
        "ingested_at": datetime.now(UTC),
        **extra,
    }


def _write(
    lake_uri: str, source: str, key: str, quarantine: list[dict[str, Any]], row: dict[str, Any]
) -> None:
    lake = lake_uri.rstrip("/")
    write_parquet(
        f"{lake}/quarantine/source={source}/part-{key}.parquet",
        pa.Table.from_pylist(quarantine, schema=QUARANTINE),
    )
    write_parquet(
        f"{lake}/ingest_log/source={source}/part-{key}.parquet",
        pa.Table.from_pylist([row], schema=INGEST_LOG),
    )


def folder_source(uri: str) -> str:
    """The source a bundle's folder is filed under (``<landing>/<source>/<name>``)."""
    source = uri.rstrip("/").rsplit("/", 2)[-2] if uri.count("/") >= 2 else ""
    return source if source in SOURCES else "unknown"


def unreadable_key(uri: str) -> str:
    """The key of a refused bundle's files: its folder name stands for the unread bundle id."""
    return bundle_key(uri.rstrip("/").rsplit("/", 1)[-1], uri)


def record_unreadable(lake_uri: str, uri: str, cause: str) -> dict[str, Any]:
    """Write the quarantine entry and log row of a bundle the collector refused; the row."""
    bundle_id = uri.rstrip("/").rsplit("/", 1)[-1]
    entry = {
        "bundle_id": bundle_id,
        "bundle_uri": uri,
        "line_no": 0,
        "reason": UNREADABLE,
        "detail": cause,
        "raw": b"",
    }
    row = _log_row(bundle_id, uri, "", 0, {}, validation=UNREADABLE)
    _write(lake_uri, folder_source(uri), unreadable_key(uri), [entry], row)
    return row


def clear_unreadable(lake_uri: str, uri: str, key: str) -> None:
    """Remove what an earlier refusal of the bundle at ``uri`` wrote, once it is readable
    and its files go under ``key``."""
    old = unreadable_key(uri)
    if old == key:
        return  # the landed bundle's files replace them
    fs, lake = filesystem(lake_uri)
    source = folder_source(uri)
    for table in ("quarantine", "ingest_log"):
        path = f"{lake}/{table}/source={source}/part-{old}.parquet"
        if fs.exists(path):
            fs.rm(path)


def remove_landed(lake_uri: str, source: str, key: str) -> None:
    """Remove the verified partitions a failed landing of the bundle ``key`` wrote."""
    fs, lake = filesystem(lake_uri)
    for path in fs.glob(f"{lake}/verified/{source}/*/sealed_month=*/part-{key}.parquet"):
        fs.rm(str(path))


def record_land_failed(
    lake_uri: str,
    source: str,
    key: str,
    uri: str,
    result: BundleResult,
    records: bytes | None,
    error: BaseException,
) -> dict[str, Any]:
    """Write the quarantine and log row of a verified bundle that could not be landed:
    every verified line as ``land_failed: <error>``, the others as the verifier decided."""
    reason = f"{LAND_FAILED}: {one_line(error)}"[:300]
    lines = records.split(b"\n") if records is not None else []
    rows = rejected_rows(result, uri)
    for r in result.verified:
        raw = lines[r.line_no - 1] if r.line_no <= len(lines) else b""
        detail = f"record {r.record_id} verified but not landed: {one_line(error)}"[:500]
        rows.append(
            {
                "bundle_id": result.bundle_id,
                "bundle_uri": uri,
                "line_no": r.line_no,
                "reason": reason,
                "detail": detail,
                "raw": raw,
            }
        )
    rows.sort(key=itemgetter("line_no"))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    log = _log_row(
        result.bundle_id,
        uri,
        result.chain_id or "",
        result.lines,
        counts,
        duplicates=result.duplicates,
        validation=LAND_FAILED,
    )
    _write(lake_uri, source, key, rows, log)
    return log
