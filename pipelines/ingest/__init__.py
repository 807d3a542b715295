"""Collect, verify, validate and land attested records: the ingest path, without a scheduler.

The lake layout (``<lake>`` is a path or an fsspec URI)::

    verified/<source>/<kind>/sealed_month=YYYY-MM/part-<bundle>.parquet   typed rows + attestation
    quarantine/source=<source>/part-<bundle>.parquet                      every rejected line, raw
    ingest_log/source=<source>/part-<bundle>.parquet                      one row per bundle
    validation/<source>/<bundle>.json                                     the GX results
    state/<chain_id>.sqlite                                               the verifier's memory

The commit point is the upload of the verifier's state. Every file of a bundle is written
(atomically, under a name derived from the bundle) before it, so a crash anywhere leads to
a rerun that verifies the same lines again and rewrites the same files: no line is lost and
no row is landed twice. A bundle whose state was committed is never ingested again.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.json as pj

from attestations.errors import PolicyError
from attestations.policy import TrustPolicy
from attestations.state import SqliteStore
from attestations.verifier import BundleFiles, BundleResult, VerifiedRecord, Verifier, paused_gc
from pipelines.ingest.quality import validate
from pipelines.lake import bundle_key, filesystem, safe_name, write_atomic, write_parquet
from pipelines.schemas import BODY_COLUMNS, INGEST_LOG, KINDS, QUARANTINE, SOURCES, TS, record_schema


class IngestError(Exception):
    """A bundle could not be ingested; the message names it and the cause."""


@dataclass(frozen=True)
class IngestConfig:
    """Where to read and write, and the quality gate."""

    landing_uri: str
    lake_uri: str
    trust_policy: str
    max_quality_failure_rate: float = 0.05


@dataclass
class IngestReport:
    """What one ingest run did: a log row per bundle, and bundles held back by the gate."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)


def list_bundles(landing_uri: str, source: str) -> list[str]:
    """Every bundle folder of ``source`` in the landing zone (``<landing>/<source>/<date>/``)."""
    fs, root = filesystem(landing_uri)
    found = fs.glob(f"{root}/{source}/*/manifest.json") + fs.glob(f"{root}/{source}/*/records.jsonl")
    folders = sorted({str(p).rsplit("/", 1)[0] for p in found})
    protocol = landing_uri.split("://", 1)[0] + "://" if "://" in landing_uri else ""
    return [f"{protocol}{f}" for f in folders]


def read_bundle(uri: str) -> BundleFiles:
    """The four files of a bundle at a path or URI."""
    fs, root = filesystem(uri)
    return BundleFiles.from_reader(uri, lambda name: bytes(fs.cat_file(f"{root}/{name}")))


def load_policy(uri: str) -> TrustPolicy:
    """Read the trust policy from a path or URI.

    Raises:
        PolicyError: unreadable or unusable.
    """
    fs, path = filesystem(uri)
    try:
        data = fs.cat_file(path)
    except (OSError, ValueError) as exc:
        raise PolicyError(f"cannot read trust policy {uri}: {exc}") from None
    return TrustPolicy.from_json(data)


@contextmanager
def lake_state(lake_uri: str, chain_id: str, commit: bool = True) -> Iterator[SqliteStore]:
    """The verifier's state for ``chain_id``, fetched from the lake and put back on success.

    Runs of one chain must not overlap (the DAG allows one active run); the state file is
    replaced atomically, so a crashed run leaves the previous state in place.
    """
    fs, root = filesystem(lake_uri)
    name = f"state/{safe_name(chain_id)}.sqlite"
    remote = f"{root}/{name}"
    with tempfile.TemporaryDirectory(prefix="smecredit-state-") as tmp:
        local = Path(tmp) / "state.sqlite"
        if fs.exists(remote):
            fs.get_file(remote, str(local))
        store = SqliteStore(local)
        try:
            yield store
            store.checkpoint()
        finally:
            store.close()
        if not commit:
            return
        write_atomic(f"{lake_uri.rstrip('/')}/{name}", local.read_bytes())


def _ts(text: str) -> datetime:
    # RFC 3339 with Z; a leap second is kept as the last microsecond of its minute.
    text = text.replace(":60", ":59.999999") if text[17:19] == "60" else text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _timestamps(values: pa.Array) -> pa.Array:
    try:
        return pc.cast(values, TS)
    except pa.ArrowInvalid:  # a leap second, which Arrow cannot parse: the slow, exact way
        return pa.array([_ts(v) for v in values.to_pylist()], type=TS)


def _kind_table(kind: str, result: BundleResult, records: list[VerifiedRecord]) -> pa.Table:
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
        io.BytesIO("\n".join(r.leaf for r in records).encode("utf-8")), parse_options=options
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


def _kind_tables(result: BundleResult) -> dict[str, pa.Table]:
    """The bundle's verified rows, one typed table per kind."""
    by_kind: dict[str, list[VerifiedRecord]] = defaultdict(list)
    for r in result.verified:
        by_kind[r.record["kind"]].append(r)
    return {kind: _kind_table(kind, result, records) for kind, records in by_kind.items()}


def _without(table: pa.Table, record_ids: set[str]) -> pa.Table:
    if not record_ids:
        return table
    return table.filter(pc.invert(pc.is_in(table["record_id"], value_set=pa.array(sorted(record_ids)))))


def _land(cfg: IngestConfig, source: str, key: str, tables: dict[str, pa.Table]) -> None:
    lake = cfg.lake_uri.rstrip("/")
    for kind, table in tables.items():
        months = pc.strftime(table["sealed_at"], format="%Y-%m")
        for month in sorted(set(months.to_pylist())):
            part = table.filter(pc.equal(months, month))
            write_parquet(f"{lake}/verified/{source}/{kind}/sealed_month={month}/part-{key}.parquet", part)


def _quarantine_table(
    result: BundleResult, uri: str, quality: dict[str, str], lines: dict[str, tuple[int, bytes]]
) -> pa.Table:
    rows = [
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


@dataclass
class _Verified:
    uri: str
    source: str
    key: str
    files: BundleFiles
    result: BundleResult
    verify_seconds: float
    tables: dict[str, pa.Table] = field(default_factory=dict)


def _verify(verifier: Verifier, uri: str) -> _Verified:
    started = time.perf_counter()
    files = read_bundle(uri)
    with paused_gc():  # as in evaluate: many kept objects, no cycles
        result = verifier.evaluate(files)
        verifier.store.commit(verifier.policy.chain_id, result)  # locally; the lake upload commits
        tables = _kind_tables(result)
    source = result.source or uri.rstrip("/").rsplit("/", 2)[-2]
    source = source if source in SOURCES else "unknown"
    key = bundle_key(result.bundle_id, uri)
    return _Verified(uri, source, key, files, result, time.perf_counter() - started, tables)


def _known_invoices(lake_uri: str, numbers: set[str]) -> set[str]:
    """Which of ``numbers`` are invoices already landed in the lake."""
    fs, root = filesystem(lake_uri)
    path = f"{root}/verified/supply_chain/invoice"
    if not numbers or not fs.exists(path):
        return set()
    data = ds.dataset(path, format="parquet", partitioning="hive", filesystem=fs)
    found = data.to_table(columns=["invoice_no"], filter=pc.field("invoice_no").isin(sorted(numbers)))
    return set(found["invoice_no"].to_pylist())


def _validate_batch(
    cfg: IngestConfig, batch: list[_Verified]
) -> tuple[dict[str, str], dict[str, Any], float]:
    """One suite run per kind over the whole batch: GX's cost is per call, not per row."""
    started = time.perf_counter()
    frames: dict[str, list[pa.Table]] = defaultdict(list)
    for item in batch:
        for kind, table in item.tables.items():
            frames[kind].append(table)
    failed: dict[str, str] = {}
    reports: dict[str, Any] = {}
    batch_invoices = {n for t in frames.get("invoice", []) for n in t["invoice_no"].to_pylist()}
    for kind, tables in frames.items():
        frame = pa.concat_tables(tables).to_pandas()
        if kind == "logistics":
            wanted = set(frame["invoice_no"]) - batch_invoices
            frame["invoice_known"] = frame["invoice_no"].isin(
                batch_invoices | _known_invoices(cfg.lake_uri, wanted)
            )
        checked = validate(frame, kind)
        failed.update(checked.failed)
        reports[kind] = checked.report
    return failed, reports, time.perf_counter() - started


def _land_bundle(
    cfg: IngestConfig, item: _Verified, failed: dict[str, str], validate_seconds: float
) -> dict[str, Any]:
    """Write one bundle's verified partitions, quarantine and log row; return the row."""
    started = time.perf_counter()
    result, lake = item.result, cfg.lake_uri.rstrip("/")
    mine = {r.record_id: failed[r.record_id] for r in result.verified if r.record_id in failed}
    raw: dict[str, tuple[int, bytes]] = {}
    if mine:
        assert item.files.records is not None  # verified rows came from it
        lines = item.files.records.split(b"\n")  # once per bundle, not once per failed row
        raw = {r.record_id: (r.line_no, lines[r.line_no - 1]) for r in result.verified if r.record_id in mine}
    _land(cfg, item.source, item.key, {k: _without(t, set(mine)) for k, t in item.tables.items()})
    quarantine = _quarantine_table(result, item.uri, mine, raw)
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


def _gate(cfg: IngestConfig, item: _Verified, failed: dict[str, str]) -> str | None:
    mine = [failed[r.record_id] for r in item.result.verified if r.record_id in failed]
    if not mine or len(mine) / len(item.result.verified) <= cfg.max_quality_failure_rate:
        return None
    worst = max(set(mine), key=mine.count)
    total = len(item.result.verified)
    return (
        f"bundle {item.result.bundle_id} ({item.uri}): {len(mine)} of {total} verified rows "
        f"failed quality, {mine.count(worst)} of them {worst}"
    )


def _first_height(uri: str) -> tuple[float, str]:
    fs, root = filesystem(uri)
    try:
        manifest = orjson.loads(fs.cat_file(f"{root}/manifest.json"))
        return float(manifest["first_height"]), uri
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return float("inf"), uri  # the verifier will say what is wrong with it


def in_height_order(uris: Sequence[str]) -> list[str]:
    """Bundles ordered by their first height (a bundle with no readable manifest last)."""
    return [uri for _, uri in sorted(map(_first_height, uris))]


def pending(cfg: IngestConfig, store: SqliteStore, sources: Sequence[str] = SOURCES) -> list[str]:
    """Bundles not yet ingested, in height order."""
    done = store.bundle_runs()
    return in_height_order([u for s in sources for u in list_bundles(cfg.landing_uri, s) if u not in done])


def pending_bundles(cfg: IngestConfig, sources: Sequence[str] = SOURCES) -> list[str]:
    """Bundles of ``sources`` not yet ingested, without changing the lake (for collect tasks)."""
    policy = load_policy(cfg.trust_policy)
    with lake_state(cfg.lake_uri, policy.chain_id, commit=False) as store:
        return pending(cfg, store, sources)


def plan_batches(uris: Sequence[str], batch_size: int) -> list[list[str]]:
    """Split bundles, in height order, into batches of at most ``batch_size``."""
    ordered = in_height_order(sorted(set(uris)))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def ingest(
    cfg: IngestConfig,
    sources: Sequence[str] = SOURCES,
    limit: int | None = None,
    batch_size: int = 200,
    uris: Sequence[str] | None = None,
) -> IngestReport:
    """Ingest the pending bundles of ``sources`` (at most ``limit``), in height order; or,
    given ``uris``, those of them not ingested yet (a retried task redoes nothing).

    Bundles are verified one after another (each sees what the previous ones proved), then
    validated together per kind in batches of ``batch_size``, then landed. Rows that fail a
    quality expectation are quarantined, the others land; the state is committed to the lake
    at the end, and only then does a quality gate breach fail the run.

    Raises:
        PolicyError: the trust policy is unusable (nothing is read).
        IngestError: a bundle's share of rows failing quality passed the threshold; its
            message names the bundle, the expectation and the count.
    """
    policy = load_policy(cfg.trust_policy)
    report = IngestReport()
    with lake_state(cfg.lake_uri, policy.chain_id) as store:
        verifier = Verifier(policy, store)
        if uris is None:
            todo = pending(cfg, store, sources)[:limit]
        else:
            done = store.bundle_runs()
            todo = in_height_order([u for u in uris if u not in done])
        for start in range(0, len(todo), batch_size):
            batch = [_verify(verifier, uri) for uri in todo[start : start + batch_size]]
            failed, reports, validate_seconds = _validate_batch(cfg, batch)
            for item in batch:
                report.rows.append(_land_bundle(cfg, item, failed, validate_seconds / len(batch)))
                held = _gate(cfg, item, failed)
                if held:
                    report.held_back.append(held)
            name = f"batch-{batch[0].key}.json"
            body = json.dumps(reports, default=str, sort_keys=True).encode()
            write_atomic(f"{cfg.lake_uri.rstrip('/')}/validation/{name}", body)
    if report.held_back:
        raise IngestError("; ".join(report.held_back))
    return report


__all__ = [
    "KINDS",
    "IngestConfig",
    "IngestError",
    "IngestReport",
    "ingest",
    "list_bundles",
    "pending",
]
