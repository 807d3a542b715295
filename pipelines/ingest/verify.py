"""Verifying one bundle of a batch: the verifier's outcome and its typed tables, kept until
the batch is validated and landed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa

from attestations.verifier import BundleFiles, BundleResult, Verifier, paused_gc
from pipelines.ingest.collect import read_bundle
from pipelines.ingest.tables import kind_tables
from pipelines.lake import bundle_key
from pipelines.landing import DEFAULT_MAX_BUNDLE_BYTES
from pipelines.schemas import SOURCES


@dataclass
class VerifiedBundle:
    """A bundle read and judged: where it came from, its outcome and its typed tables."""

    uri: str
    source: str
    key: str
    files: BundleFiles
    result: BundleResult
    verify_seconds: float
    tables: dict[str, pa.Table] = field(default_factory=dict)
    land_error: Exception | None = None  # why it cannot be landed, once that is known


def verify_bundle(
    verifier: Verifier, uri: str, landing_uri: str | None = None, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES
) -> VerifiedBundle:
    """Read and judge the bundle at ``uri``, committing its outcome to the verifier's view of
    the state (``pipelines.ingest.state.StateView``). A failure to build its tables is kept as
    ``land_error``, so that it does not stop the other bundles.

    Raises:
        Unreadable: the collector refuses the bundle (nothing was read or judged).
    """
    started = time.perf_counter()
    files = read_bundle(uri, landing_uri, max_bytes)
    tables: dict[str, pa.Table] = {}
    error: Exception | None = None
    with paused_gc():  # as in evaluate: many kept objects, no cycles
        result = verifier.evaluate(files)
        verifier.store.commit(verifier.policy.chain_id, result)  # in the view; the store commits later
        try:
            tables = kind_tables(result)
        except Exception as exc:  # an Arrow error in one bundle
            error = exc
    source = result.source or uri.rstrip("/").rsplit("/", 2)[-2]
    source = source if source in SOURCES else "unknown"
    key = bundle_key(result.bundle_id, uri)
    return VerifiedBundle(uri, source, key, files, result, time.perf_counter() - started, tables, error)
