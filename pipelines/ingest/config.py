"""What an ingest run is told: where to read and write, and the quality gate."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.landing import DEFAULT_MAX_BUNDLE_BYTES


@dataclass(frozen=True)
class IngestConfig:
    """Where to read and write, and the quality gate."""

    landing_uri: str
    lake_uri: str
    trust_policy: str
    max_quality_failure_rate: float = 0.05
    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES  # SMECREDIT_MAX_BUNDLE_BYTES
    state_uri: str = ""  # SMECREDIT_STATE_URI; empty: <lake>/state/ledger-state.sqlite (local lakes)
