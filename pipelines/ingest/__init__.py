"""Collect, verify, validate and land attested records: the ingest path, without a scheduler.

``collect`` finds and orders the pending bundles, ``verify`` judges one (``tables`` types its
rows), ``gate`` runs the quality suites per batch and holds back bundles with too many
failing rows, ``land`` writes a bundle's files, ``state`` keeps the verifier's memory in the
lake, ``run`` is one ingest run. The lake layout (``<lake>`` is
a path or an fsspec URI)::

    verified/<source>/<kind>/sealed_month=YYYY-MM/part-<bundle>.parquet   typed rows + attestation
    quarantine/source=<source>/part-<bundle>.parquet                      every rejected line, raw
    ingest_log/source=<source>/part-<bundle>.parquet                      one row per bundle
    validation/batch-<bundle>.json                                        the GX results per batch
    state/<chain_id>.sqlite                                               the verifier's memory

The commit point is the upload of the verifier's state. Every file of a bundle is written
(atomically, under a name derived from the bundle) before it, so a crash anywhere leads to
a rerun that verifies the same lines again and rewrites the same files: no line is lost and
no row is landed twice. A bundle whose state was committed is never ingested again.
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
