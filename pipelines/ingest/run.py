"""One ingest run: the pending bundles verified in height order, validated per batch, landed,
and the verifier's state committed to the lake."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from attestations.state import SqliteStore
from attestations.verifier import Verifier
from pipelines.errors import IngestError
from pipelines.ingest.collect import in_height_order, load_policy, pending
from pipelines.ingest.config import IngestConfig
from pipelines.ingest.gate import held_back, validate_batch
from pipelines.ingest.land import land_bundle
from pipelines.ingest.refusals import clear_unreadable, record_land_failed, record_unreadable, remove_landed
from pipelines.ingest.state import lake_state
from pipelines.ingest.verify import VerifiedBundle, verify_bundle
from pipelines.lake import write_atomic
from pipelines.landing import Unreadable
from pipelines.schemas import SOURCES

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What one ingest run did: a log row per bundle, and bundles held back by the gate."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)


def _verify_batch(
    cfg: IngestConfig, verifier: Verifier, uris: Sequence[str], report: IngestReport
) -> list[VerifiedBundle]:
    """Verify ``uris`` in order; a bundle the collector refuses is logged as unreadable."""
    batch = []
    for uri in uris:
        try:
            item = verify_bundle(verifier, uri, cfg.landing_uri, cfg.max_bundle_bytes)
        except Unreadable as exc:
            log.warning("bundle %s refused: %s", uri, exc)
            report.rows.append(record_unreadable(cfg.lake_uri, uri, str(exc)))
            continue
        clear_unreadable(cfg.lake_uri, uri, item.key)
        batch.append(item)
    return batch


def _validate(cfg: IngestConfig, batch: list[VerifiedBundle]) -> tuple[dict[str, str], dict[str, Any], float]:
    """The batch's quality suites; when they crash, each bundle alone, so that only the
    bundle that makes them crash fails (its ``land_error``)."""
    ready = [item for item in batch if item.land_error is None]
    try:
        return validate_batch(cfg, ready)
    except Exception:
        log.exception("validating a batch of %d bundles crashed; validating them one by one", len(ready))
    failed: dict[str, str] = {}
    reports: dict[str, Any] = {}
    seconds = 0.0
    for item in ready:
        try:
            mine, found, took = validate_batch(cfg, [item])
        except Exception as exc:
            item.land_error = exc
            continue
        failed.update(mine)
        reports[item.key] = found
        seconds += took
    return failed, reports, seconds


def _land_or_quarantine(
    cfg: IngestConfig,
    store: SqliteStore,
    chain_id: str,
    item: VerifiedBundle,
    failed: dict[str, str],
    validate_seconds: float,
) -> dict[str, Any]:
    """Land the bundle; if anything fails, quarantine its verified lines as
    ``land_failed: <error>``, remove what it landed and take it out of the verifier's memory
    (``pipelines.ingest.refusals``), so that the next run tries it again."""
    if item.land_error is None:
        try:
            return land_bundle(cfg, item, failed, validate_seconds)
        except Exception as exc:  # the other bundles land
            item.land_error = exc
    log.error("bundle %s could not be landed: %s", item.uri, item.land_error)
    remove_landed(cfg.lake_uri, item.source, item.key)
    store.forget(chain_id, item.result)
    return record_land_failed(
        cfg.lake_uri, item.source, item.key, item.uri, item.result, item.files.records, item.land_error
    )


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
            batch = _verify_batch(cfg, verifier, todo[start : start + batch_size], report)
            failed, reports, validate_seconds = _validate(cfg, batch)
            for item in batch:
                seconds = validate_seconds / len(batch)
                report.rows.append(_land_or_quarantine(cfg, store, policy.chain_id, item, failed, seconds))
                held = held_back(cfg, item, failed)
                if held:
                    report.held_back.append(held)
            if batch:
                name = f"batch-{batch[0].key}.json"
                body = json.dumps(reports, default=str, sort_keys=True).encode()
                write_atomic(f"{cfg.lake_uri.rstrip('/')}/validation/{name}", body)
    if report.held_back:
        raise IngestError("quality gate: " + "; ".join(report.held_back))
    return report
