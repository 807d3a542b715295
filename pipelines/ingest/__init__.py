"""Collect, verify, validate and land attested records: the ingest path, without a scheduler.

``collect`` finds and orders the pending bundles, ``verify`` judges one (``tables`` types its
rows), ``gate`` runs the quality suites per batch and holds back bundles with too many
failing rows, ``land`` writes a bundle's files, ``state`` opens the state store
(``pipelines.ledger_state``) and shows it to the verifier, ``run`` is one ingest run. The
lake layout (``<lake>`` is a path or an fsspec URI)::

    verified/<source>/<kind>/sealed_month=YYYY-MM/part-<bundle>.parquet   typed rows + attestation
    quarantine/source=<source>/part-<bundle>.parquet                      every rejected line, raw
    ingest_log/source=<source>/part-<bundle>.parquet                      one row per bundle
    validation/batch-<bundle>.json                                        the GX results per batch
    state/ledger-state.sqlite                                             the state store (local lakes)

The commit point is one transaction per bundle in the state store (SQLite or PostgreSQL).
Every file of a bundle is recorded as pending, then written (atomically, under a name
derived from the bundle), before it; a rerun removes the pending files of a bundle before it
verifies the same lines again: no line is lost and no row is landed twice. A committed
bundle is never ingested again. See docs/state-store.md.
"""

from pipelines.errors import IngestError
from pipelines.ingest.collect import (
    in_height_order,
    list_bundles,
    load_policy,
    pending,
    pending_bundles,
    plan_batches,
    read_bundle,
)
from pipelines.ingest.config import IngestConfig
from pipelines.ingest.run import IngestReport, ingest
from pipelines.ingest.state import ingest_state
from pipelines.schemas import KINDS

__all__ = [
    "KINDS",
    "IngestConfig",
    "IngestError",
    "IngestReport",
    "in_height_order",
    "ingest",
    "ingest_state",
    "list_bundles",
    "load_policy",
    "pending",
    "pending_bundles",
    "plan_batches",
    "read_bundle",
]
