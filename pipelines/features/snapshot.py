"""Feature snapshots: ``<lake>/features/as_of_month=YYYY-MM/part-0.parquet``, one row per firm.

``build_snapshot(lake, as_of)`` reads what was sealed by the as-of date, computes one row
per firm (``pipelines.features.compute``) and writes the month's file atomically;
rebuilding a month replaces it. The DAG splits the work by ``firm_id`` hash shard
(``build_shard``, then ``merge_shards``); the rows do not depend on the shard count.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.calendar import month_end, month_end_on_or_before, month_of
from pipelines.features.compute import Inputs, compute, compute_codes
from pipelines.features.inputs import THREADS, load_inputs
from pipelines.features.store import FeatureError
from pipelines.lake import filesystem, write_parquet
from pipelines.schemas import feature_schema

FEATURE_SCHEMA = feature_schema()


def _to_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, schema=FEATURE_SCHEMA, preserve_index=False)


def compute_shards(inputs: Inputs, as_of: date, shards: int = 1) -> pd.DataFrame:
    """Every firm's row, computed shard by shard and merged in ``firm_id`` order."""
    parts = [shard_rows(inputs, as_of, k, shards) for k in range(shards)]
    return pd.concat(parts, ignore_index=True).sort_values("firm_id", ignore_index=True)


def shard_rows(inputs: Inputs, as_of: date, k: int, n: int) -> pd.DataFrame:
    """The rows of the firms of shard ``k`` of ``n``, computed as ``THREADS`` sub-shards in
    as many threads (sub-shard ``k + n * j`` of ``n * THREADS``: the same firms)."""

    def part(kk: int, nn: int) -> pd.DataFrame:
        codes = inputs.codes_of_shard(kk, nn)
        rows, _ = compute_codes(inputs.shard(kk, nn), as_of, inputs.firms[codes], codes)
        return rows

    if THREADS == 1:
        return part(k, n)
    with ThreadPoolExecutor(THREADS) as pool:
        pool.submit(inputs.ranks)  # shared by the parts' traces, computed once meanwhile
        parts = list(pool.map(lambda j: part(k + n * j, n * THREADS), range(THREADS)))
    return pd.concat(parts, ignore_index=True).sort_values("firm_id", ignore_index=True)


def snapshot_uri(lake_uri: str, as_of: date) -> str:
    return f"{lake_uri.rstrip('/')}/features/as_of_month={as_of:%Y-%m}/part-0.parquet"


def _write(uri: str, frame: pd.DataFrame) -> None:
    write_parquet(uri, _to_table(frame))


def build_snapshot(lake_uri: str, as_of: date, shards: int = 1) -> tuple[str, int]:
    """Build and write the snapshot of the month ending on or before ``as_of``.

    Returns the snapshot's URI and its number of rows.
    """
    as_of = month_end_on_or_before(as_of)
    rows = compute_shards(load_inputs(lake_uri, as_of), as_of, shards)
    uri = snapshot_uri(lake_uri, as_of)
    _write(uri, rows)
    return uri, len(rows)


def _staging(lake_uri: str, as_of: date) -> str:
    return f"{lake_uri.rstrip('/')}/features/_staging/as_of_month={as_of:%Y-%m}"


def build_shard(lake_uri: str, as_of: date, k: int, n: int) -> str:
    """Compute shard ``k`` of ``n`` of the snapshot of ``as_of`` into the staging area."""
    as_of = month_end_on_or_before(as_of)
    uri = f"{_staging(lake_uri, as_of)}/shard-{k:04d}-of-{n:04d}.parquet"
    _write(uri, shard_rows(load_inputs(lake_uri, as_of), as_of, k, n))
    return uri


def merge_shards(lake_uri: str, as_of: date, n: int) -> tuple[str, int]:
    """Merge the ``n`` staged shards of ``as_of`` into the snapshot and clear the staging area.

    Raises:
        FeatureError: a shard is missing.
    """
    as_of = month_end_on_or_before(as_of)
    fs, staging = filesystem(_staging(lake_uri, as_of))
    tables = []
    for k in range(n):
        path = f"{staging}/shard-{k:04d}-of-{n:04d}.parquet"
        if not fs.exists(path):
            raise FeatureError(f"shard {k} of {n} of {as_of:%Y-%m} is missing at {path}")
        tables.append(pq.read_table(io.BytesIO(fs.cat_file(path)), schema=FEATURE_SCHEMA))
    merged = pa.concat_tables(tables).sort_by("firm_id")
    uri = snapshot_uri(lake_uri, as_of)
    write_parquet(uri, merged)
    fs.rm(staging, recursive=True)
    parent = staging.rsplit("/", 1)[0]
    try:
        if fs.exists(parent) and not fs.ls(parent):
            fs.rmdir(parent)
    except OSError:  # another month's shards are staged there: it stays
        pass
    return uri, merged.num_rows


def read_snapshot(lake_uri: str, as_of: date) -> pd.DataFrame:
    """The snapshot of the month ending on or before ``as_of``.

    Raises:
        FeatureError: it has not been built.
    """
    as_of = month_end_on_or_before(as_of)
    uri = snapshot_uri(lake_uri, as_of)
    fs, path = filesystem(uri)
    if not fs.exists(path):
        raise FeatureError(
            f"no feature snapshot for {as_of:%Y-%m} at {uri}; build it with smecredit features"
        )
    return pq.read_table(io.BytesIO(fs.cat_file(path))).to_pandas()


def available_snapshots(lake_uri: str) -> list[date]:
    """The as-of dates of every snapshot in the lake, oldest first."""
    fs, root = filesystem(lake_uri)
    found = fs.glob(f"{root}/features/as_of_month=*/part-0.parquet")
    months = sorted(str(p).split("as_of_month=")[1][:7] for p in found)
    return [month_end(month_of(m)) for m in months]


def feature_inputs(lake_uri: str, firm_id: str, as_of: date) -> list[str]:
    """The leaf hashes (hex) of the attested records ``firm_id``'s row of ``as_of`` was built
    from, in byte order: the SHA-256 of their 32 bytes each, concatenated, is the row's
    ``input_hash``."""
    as_of = month_end_on_or_before(as_of)
    _, used = compute(load_inputs(lake_uri, as_of), as_of, pd.Index([firm_id]), with_inputs=True)
    assert used is not None
    return list(used["leaf_hash"])
