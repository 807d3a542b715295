"""Point-in-time firm features from the verified lake tables.

- ``catalogue``: every feature's name, unit, empty value and meaning;
- ``store``: the feature input store, each sealed month of each verified table compacted;
- ``inputs``: ``load_inputs``, the rows a snapshot of an as-of date may use, ids coded;
- ``compute``: the arithmetic, one row per firm;
- ``snapshot``: building, merging, reading and listing the monthly snapshots.

The verified-table reader lives in ``pipelines.verified``, month ends in ``pipelines.calendar``;
both are re-exported here for the callers that import them from this package.
"""

from pipelines.calendar import month_end_on_or_before, month_ends, sealed_cutoff
from pipelines.features.catalogue import FEATURE_NAMES, FEATURES, dictionary_markdown
from pipelines.features.inputs import THREADS, load_inputs
from pipelines.features.snapshot import (
    FEATURE_SCHEMA,
    available_snapshots,
    build_shard,
    build_snapshot,
    compute_shards,
    feature_inputs,
    merge_shards,
    read_snapshot,
    shard_rows,
    snapshot_uri,
)
from pipelines.features.store import FeatureError, InputStore
from pipelines.verified import ATTESTATION, Reader, VerifiedCache, read_verified

__all__ = [
    "ATTESTATION",
    "FEATURES",
    "FEATURE_NAMES",
    "FEATURE_SCHEMA",
    "THREADS",
    "FeatureError",
    "InputStore",
    "Reader",
    "VerifiedCache",
    "available_snapshots",
    "build_shard",
    "build_snapshot",
    "compute_shards",
    "dictionary_markdown",
    "feature_inputs",
    "load_inputs",
    "merge_shards",
    "month_end_on_or_before",
    "month_ends",
    "read_snapshot",
    "read_verified",
    "sealed_cutoff",
    "shard_rows",
    "snapshot_uri",
]
