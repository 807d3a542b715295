"""The quality gate: a batch of verified bundles validated with the quality suites, and the
bundles held back because too many of their rows failed."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingest.config import IngestConfig
from pipelines.ingest.quality import validate
from pipelines.ingest.verify import VerifiedBundle
from pipelines.ledger_state import StateStore


def validate_batch(
    store: StateStore, batch: list[VerifiedBundle]
) -> tuple[dict[str, str], dict[str, Any], float]:
    """One suite run per kind over the whole batch (GX's cost is per call, not per row): the
    failed rows' reasons by record id, the GX reports per kind, and the seconds it took.
    Waybills are checked against the invoices of the batch and those already landed, which
    ``store`` indexes (``landed_invoice``)."""
    started = time.perf_counter()
    frames: dict[str, list[pa.Table]] = defaultdict(list)
    for item in batch:
        for kind, table in item.tables.items():
            frames[kind].append(table)
    failed: dict[str, str] = {}
    reports: dict[str, Any] = {}
    invoices = [t["invoice_no"] for t in frames.get("invoice", [])]
    for kind, tables in frames.items():
        table = pa.concat_tables(tables)
        if kind == "logistics":
            table = table.append_column("invoice_known", invoice_known(store, table["invoice_no"], invoices))
        checked = validate(table.to_pandas(), kind)
        failed.update(checked.failed)
        reports[kind] = checked.report
    return failed, reports, time.perf_counter() - started


def invoice_known(
    store: StateStore, wanted: pa.ChunkedArray, batch: list[pa.ChunkedArray]
) -> pa.ChunkedArray:
    """Whether each of ``wanted`` (waybills' invoice numbers) is among the ``batch``'s
    invoice numbers or those already landed; a missing number is never known.

    In Arrow: pandas' ``isin`` on a string column turns every value of the set into an Arrow
    scalar in a Python loop, which on a window of 100,000 rows cost more than the suites.
    """
    string = wanted.type
    in_batch = pa.chunked_array([c for column in batch for c in column.chunks], type=string)
    known = pc.is_in(wanted, value_set=in_batch.combine_chunks(), skip_nulls=True)
    others = pc.drop_null(pc.filter(wanted, pc.invert(known)))
    landed = store.landed_invoices(set(others.to_pylist()))
    if landed:
        earlier = pc.is_in(wanted, value_set=pa.array(sorted(landed), type=string), skip_nulls=True)
        known = pc.or_(known, earlier)
    return known


def held_back(cfg: IngestConfig, item: VerifiedBundle, failed: dict[str, str]) -> str | None:
    """Why the bundle is held back (its share of rows failing quality passed the threshold),
    naming the bundle, the commonest expectation and the count; None when it passes."""
    mine = [failed[r.record_id] for r in item.result.verified if r.record_id in failed]
    if not mine or len(mine) / len(item.result.verified) <= cfg.max_quality_failure_rate:
        return None
    worst = max(set(mine), key=mine.count)
    total = len(item.result.verified)
    return (
        f"bundle {item.result.bundle_id} ({item.uri}): {len(mine)} of {total} verified rows "
        f"failed quality, {mine.count(worst)} of them {worst}"
    )
