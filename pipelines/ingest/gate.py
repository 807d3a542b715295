"""The quality gate: a batch of verified bundles validated with the quality suites, and the
bundles held back because too many of their rows failed."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import pyarrow as pa

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
    batch_invoices = {n for t in frames.get("invoice", []) for n in t["invoice_no"].to_pylist()}
    for kind, tables in frames.items():
        frame = pa.concat_tables(tables).to_pandas()
        if kind == "logistics":
            wanted = set(frame["invoice_no"]) - batch_invoices
            frame["invoice_known"] = frame["invoice_no"].isin(batch_invoices | store.landed_invoices(wanted))
        checked = validate(frame, kind)
        failed.update(checked.failed)
        reports[kind] = checked.report
    return failed, reports, time.perf_counter() - started


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
