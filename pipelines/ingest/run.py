"""One ingest run: the pending bundles verified in height order, validated per batch, landed,
and the verifier's state committed to the lake."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from attestations.verifier import Verifier
from pipelines.errors import IngestError
from pipelines.ingest.collect import in_height_order, load_policy, pending
from pipelines.ingest.config import IngestConfig
from pipelines.ingest.gate import held_back, validate_batch
from pipelines.ingest.land import land_bundle
from pipelines.ingest.state import lake_state
from pipelines.ingest.verify import verify_bundle
from pipelines.lake import write_atomic
from pipelines.schemas import SOURCES


@dataclass
class IngestReport:
    """What one ingest run did: a log row per bundle, and bundles held back by the gate."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)


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
            batch = [verify_bundle(verifier, uri) for uri in todo[start : start + batch_size]]
            failed, reports, validate_seconds = validate_batch(cfg, batch)
            for item in batch:
                report.rows.append(land_bundle(cfg, item, failed, validate_seconds / len(batch)))
                held = held_back(cfg, item, failed)
                if held:
                    report.held_back.append(held)
            name = f"batch-{batch[0].key}.json"
            body = json.dumps(reports, default=str, sort_keys=True).encode()
            write_atomic(f"{cfg.lake_uri.rstrip('/')}/validation/{name}", body)
    if report.held_back:
        raise IngestError("quality gate: " + "; ".join(report.held_back))
    return report
