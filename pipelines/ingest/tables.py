"""Arrow tables of a verified bundle: one typed table per record kind, and its quarantine."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from attestations.verifier import BundleResult, VerifiedRecord
from pipelines.schemas import BODY_COLUMNS, QUARANTINE, TS, record_schema


def _ts(text: str) -> datetime:
    # RFC 3339 with Z; a leap second is kept as the last microsecond of its minute.
    text = text.replace(":60", ":59.999999") if text[17:19] == "60" else text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _timestamps(values: pa.Array) -> pa.Array:
    try:
        return pc.cast(values, TS)
    except pa.ArrowInvalid:  # a leap second, which Arrow cannot parse: the slow, exact way
        return pa.array([_ts(v) for v in values.to_pylist()], type=TS)


def _read_options(records: list[VerifiedRecord]) -> pj.ReadOptions:
    """A block larger than the longest leaf: Arrow's JSON reader cannot split one object
    across blocks (``straddling object straddles two block boundaries``)."""
    longest = max((len(r.leaf) for r in records), default=0) * 4  # at most 4 UTF-8 bytes a character
    return pj.ReadOptions(block_size=min(max(1 << 20, longest + 1024), (1 << 31) - 1))


def kind_table(kind: str, result: BundleResult, records: list[VerifiedRecord]) -> pa.Table:
    """One kind's verified rows as a typed table; Arrow's JSON reader parses the leaves."""
    body = BODY_COLUMNS[kind]
    is_date = {c.name for c in body if str(c.type) == "date32[day]"}
    leaf_schema = pa.schema(
        [
            ("record_id", pa.string()),
            ("firm_id", pa.string()),
            ("event_time", pa.string()),
            ("body", pa.struct([(c.name, pa.string() if c.name in is_date else c.type) for c in body])),
        ]
    )
    options = pj.ParseOptions(explicit_schema=leaf_schema, unexpected_field_behavior="ignore")
    parsed = pj.read_json(
        io.BytesIO("\n".join(r.leaf for r in records).encode("utf-8")),
        parse_options=options,
        read_options=_read_options(records),
    )
    bodies = parsed["body"].combine_chunks()
    n = len(records)
    columns = {
        "record_id": parsed["record_id"],
        "firm_id": parsed["firm_id"],
        "event_time": _timestamps(parsed["event_time"].combine_chunks()),
        "sealed_at": _timestamps(pa.array([r.sealed_at for r in records])),
        "chain_id": pa.array([result.chain_id] * n, pa.string()),
        "height": pa.array([r.height for r in records], pa.int64()),
        "index": pa.array([r.index for r in records], pa.int64()),
        "leaf_hash": pa.array([r.leaf_hash.hex() for r in records], pa.string()),
        "bundle_id": pa.array([result.bundle_id] * n, pa.string()),
    }
    for c in body:
        field = bodies.field(c.name)
        columns[c.name] = pc.cast(field, pa.date32()) if c.name in is_date else field
    return pa.table(columns, schema=record_schema(kind))


def kind_tables(result: BundleResult) -> dict[str, pa.Table]:
    """The bundle's verified rows, one typed table per kind."""
    by_kind: dict[str, list[VerifiedRecord]] = defaultdict(list)
    for r in result.verified:
        by_kind[r.record["kind"]].append(r)
    return {kind: kind_table(kind, result, records) for kind, records in by_kind.items()}


def without(table: pa.Table, record_ids: set[str]) -> pa.Table:
    """``table`` without the rows of ``record_ids``."""
    if not record_ids:
        return table
    return table.filter(pc.invert(pc.is_in(table["record_id"], value_set=pa.array(sorted(record_ids)))))


def rejected_rows(result: BundleResult, uri: str) -> list[dict[str, Any]]:
    """The quarantine rows of the lines the verifier rejected, as it decided them."""
    return [
        {
            "bundle_id": result.bundle_id,
            "bundle_uri": uri,
            "line_no": q.line_no,
            "reason": q.reason,
            "detail": q.detail,
            "raw": q.raw,
        }
        for q in result.quarantined
    ]


def quarantine_table(
    result: BundleResult, uri: str, quality: dict[str, str], lines: dict[str, tuple[int, bytes]]
) -> pa.Table:
    """The bundle's quarantine: the verifier's rejected lines and the verified rows that
    failed a quality expectation (``quality`` by record id, ``lines`` their line and bytes)."""
    rows = rejected_rows(result, uri)
    for record_id, reason in quality.items():
        line_no, raw = lines[record_id]
        rows.append(
            {
                "bundle_id": result.bundle_id,
                "bundle_uri": uri,
                "line_no": line_no,
                "reason": reason,
                "detail": f"record {record_id} failed {reason[8:]}",
                "raw": raw,
            }
        )
    rows.sort(key=itemgetter("line_no"))
    return pa.Table.from_pylist(rows, schema=QUARANTINE)
