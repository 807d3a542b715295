"""Point-in-time firm features from the verified lake tables.

``build_snapshot(lake, as_of)`` reads what was sealed by the as-of date, computes one row
per firm (``pipelines.features.compute``) and writes ``<lake>/features/as_of_month=YYYY-MM/
part-0.parquet`` atomically; rebuilding a month replaces it. The DAG splits the work by
``firm_id`` hash shard (``build_shard``, then ``merge_shards``); the rows do not depend on
the shard count.
"""

from __future__ import annotations

import calendar
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.features.catalogue import FEATURE_NAMES, FEATURES, dictionary_markdown
from pipelines.features.compute import WINDOW, Inputs, compute, compute_codes, month_number, shard_hash
from pipelines.features.store import (
    FeatureError,
    InputStore,
    as_numpy,
    leaf_chunks,
    micros,
    month_text,
    sealed_cutoff,
)
from pipelines.lake import filesystem, write_parquet

FEATURE_SCHEMA = pa.schema(
    [
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
        *(pa.field(name, pa.float64(), nullable=False) for name in FEATURE_NAMES),
        pa.field("input_records", pa.int64(), nullable=False),
        pa.field("input_hash", pa.string(), nullable=False),
        pa.field("feature_set_version", pa.string(), nullable=False),
    ]
)
Reader = Callable[..., pa.Table]
"""``read_verified`` or a stand-in with its signature (``VerifiedCache``)."""
_MONTH = ds.partitioning(pa.schema([("sealed_month", pa.string())]), flavor="hive")


def month_end_on_or_before(d: date) -> date:
    """The last day of ``d``'s month if ``d`` is that day, else the last day of the month before."""
    last = calendar.monthrange(d.year, d.month)[1]
    return d if d.day == last else d.replace(day=1) - timedelta(days=1)


def month_ends(first: date, last: date) -> list[date]:
    """Every month end from the one on or before ``first`` to the one on or before ``last``."""
    out, current = [], month_end_on_or_before(last)
    stop = month_end_on_or_before(first)
    while current >= stop:
        out.append(current)
        current = current.replace(day=1) - timedelta(days=1)
    return out[::-1]


def _month_start(n: int) -> datetime:
    """The first instant (UTC) of month ``n`` (``month_number``)."""
    return datetime(n // 12, n % 12 + 1, 1, tzinfo=UTC)


def _sealed_by(as_of: date, since: int | None, where: pc.Expression | None) -> pc.Expression:
    cond = (pc.field("sealed_month") <= month_text(month_number(as_of))) & (
        pc.field("sealed_at") < pa.scalar(sealed_cutoff(as_of), type=pa.timestamp("us", tz="UTC"))
    )
    if since is not None:
        cond = cond & (pc.field("sealed_month") >= month_text(since))
    return cond if where is None else cond & where


ATTESTATION = ("sealed_at", "height", "index", "leaf_hash", "record_id")


def read_verified(
    lake_uri: str,
    source: str,
    kind: str,
    columns: Sequence[str],
    as_of: date,
    since: int | None,
    where: pc.Expression | None = None,
    attestation: Sequence[str] = ATTESTATION,
) -> pa.Table:
    """Rows of ``kind`` sealed by the end of ``as_of`` (UTC), from sealed month ``since``
    (``month_number``) on, with ``columns`` and the ``attestation`` columns (by default
    ``sealed_at, height, index, leaf_hash, record_id``); ``where`` filters further."""
    wanted = list(dict.fromkeys([*columns, *attestation]))
    data = _verified_dataset(lake_uri, source, kind)
    if data is None:
        from pipelines.schemas import record_schema

        return record_schema(kind).empty_table().select(wanted)
    return data.to_table(columns=wanted, filter=_sealed_by(as_of, since, where))


def _verified_dataset(lake_uri: str, source: str, kind: str) -> ds.Dataset | None:
    """The verified table of ``kind`` as a dataset partitioned by sealed month; None when
    nothing of that kind was ever landed."""
    fs, root = filesystem(lake_uri)
    path = f"{root}/verified/{source}/{kind}"
    if not fs.exists(path):
        return None
    return ds.dataset(path, format="parquet", partitioning=_MONTH, filesystem=fs)


class VerifiedCache:
    """``read_verified`` for a run over many days of one lake (a monitoring backfill): each
    table is read from storage once, for every day up to ``last`` and every window that
    starts no earlier than ``WINDOW`` months before ``first``, and kept sorted by
    ``sealed_at`` (which sets ``sealed_month``), so a call's window is a zero-copy slice
    that ``where`` then filters. Calls outside that range read the lake. Memory grows with
    the tables read: about what one feature snapshot's inputs take, plus the range."""

    def __init__(self, lake_uri: str, first: date, last: date) -> None:
        self.lake_uri, self.last = lake_uri, last
        self.since = month_number(first) - (WINDOW - 1)
        self._tables: dict[tuple[str, str, bool], tuple[pa.Table, np.ndarray]] = {}

    def __call__(
        self,
        lake_uri: str,
        source: str,
        kind: str,
        columns: Sequence[str],
        as_of: date,
        since: int | None,
        where: pc.Expression | None = None,
        attestation: Sequence[str] = ATTESTATION,
    ) -> pa.Table:
        if lake_uri != self.lake_uri or as_of > self.last or (since is not None and since < self.since):
            return read_verified(lake_uri, source, kind, columns, as_of, since, where, attestation)
        key = (source, kind, since is None)
        if key not in self._tables:
            data = _verified_dataset(lake_uri, source, kind)
            if data is None:
                return read_verified(lake_uri, source, kind, columns, as_of, since, where, attestation)
            first = None if since is None else self.since
            table = data.to_table(filter=_sealed_by(self.last, first, None)).sort_by("sealed_at")
            self._tables[key] = (table, micros(table["sealed_at"]))
        table, stamps = self._tables[key]
        hi = int(np.searchsorted(stamps, micros(pa.array([sealed_cutoff(as_of)]))[0]))
        lo = 0
        if since is not None:
            lo = int(np.searchsorted(stamps, micros(pa.array([_month_start(since)]))[0]))
        part = table.slice(lo, max(hi - lo, 0))
        if where is not None:
            part = part.filter(where)
        return part.select(list(dict.fromkeys([*columns, *attestation])))


def _dictionary_codes(columns: Sequence[pa.ChunkedArray]) -> tuple[pa.Array, list[np.ndarray]]:
    """The sorted union of the values of dictionary ``columns``, and each column as positions
    in it (-1: null). Arrow unifies the chunks' dictionaries (one hash lookup per dictionary
    entry); the union is sorted and each row's index mapped with one ``take``."""
    chunks = [c for col in columns for c in col.chunks]
    if not chunks:
        return pa.array([], pa.string()), [np.zeros(0, dtype=np.int64) for _ in columns]
    unified = pa.chunked_array(chunks, type=chunks[0].type).unify_dictionaries()
    dictionary = unified.chunks[0].dictionary
    order = np.asarray(pc.sort_indices(dictionary), dtype=np.int64)
    position = np.empty(len(dictionary) + 1, dtype=np.int64)  # the last: a null index (-1)
    position[order] = np.arange(len(dictionary))
    position[-1] = -1
    codes = [position[as_numpy(pc.fill_null(c.indices, -1))] for c in unified.chunks]
    out, at = [], 0
    for col in columns:
        n = col.num_chunks
        out.append(np.concatenate(codes[at : at + n]) if n else np.zeros(0, dtype=np.int64))
        at += n
    return dictionary.take(pa.array(order)), out


def _key_codes(halves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[list[np.ndarray], int]:
    """Dense codes of 128-bit keys given as (high, low) uint64 halves, shared by all parts,
    and how many there are. Keys are grouped by their high half; if two different keys share
    it (a 64-bit collision), both halves are coded exactly instead."""
    hi = np.concatenate([h for h, _ in halves]) if halves else np.zeros(0, dtype=np.uint64)
    lo = np.concatenate([low for _, low in halves]) if halves else np.zeros(0, dtype=np.uint64)
    if not len(hi):
        return [np.zeros(0, dtype=np.int64) for _ in halves], 0
    codes, uniques = pd.factorize(hi)
    low_of = np.empty(len(uniques), dtype=np.uint64)
    low_of[codes] = lo
    if (low_of[codes] != lo).any():
        _, codes = np.unique(np.stack([hi, lo], axis=1), axis=0, return_inverse=True)
    codes = np.asarray(codes, dtype=np.int64).ravel()
    bounds = np.cumsum([len(h) for h, _ in halves])[:-1]
    return np.split(codes, bounds), int(codes.max()) + 1


_DTYPE: dict[str, type] = {"key_hi": np.uint64, "key_lo": np.uint64, "value_fen": float}
_CODED = ("seller", "buyer", "firm", "receipt", "pledgee", "lease", "sealed_us", "leaf")
THREADS = max(1, min(4, os.cpu_count() or 1))
"""Threads a snapshot's loading and arithmetic use (Arrow and numpy release the GIL)."""


def _read_kind(
    store: InputStore, source: str, kind: str, as_of: date, since: int | None
) -> tuple[pa.Table, dict[str, np.ndarray], list[np.ndarray]]:
    """One kind's compact rows, its plain columns as numpy (key halves as uint64), and its
    leaves as views of the table's chunks."""
    table = store.read(source, kind, as_of, since)
    frame = {c: as_numpy(table[c], _DTYPE.get(c, np.int64)) for c in table.column_names if c not in _CODED}
    return table, frame, leaf_chunks(table["leaf"])


def load_inputs(lake_uri: str, as_of: date, store: InputStore | None = None) -> Inputs:
    """The rows every feature of ``as_of`` may use: trade and contributions sealed in the 12
    months window (their sealed month cannot be older than their business date), and the
    whole history of warehouse receipts and leases (a status lasts until it changes), from
    the feature input store (``pipelines.features.store``), which compacts a verified month on
    first use. Ids are coded as integers here; ``store`` may be one kept over a run of many
    days."""
    store = store or InputStore(lake_uri)
    since = month_number(as_of) - (WINDOW - 1)
    sc = "supply_chain"
    reads = {
        "invoices": (sc, "invoice", since),
        "waybills": (sc, "logistics", since),
        "payments": (sc, "payment", since),
        "receipts": (sc, "warehouse_receipt", None),
        "leases": (sc, "lease", None),
        "si": ("social_insurance", "contribution", since),
        "hf": ("housing_fund", "contribution", since),
    }
    with ThreadPoolExecutor(THREADS) as pool:
        futures = {
            n: pool.submit(_read_kind, store, source, kind, as_of, first)
            for n, (source, kind, first) in reads.items()
        }
        read = {n: f.result() for n, f in futures.items()}
        tables = {n: t for n, (t, _, _) in read.items()}
        frames = {n: frame for n, (_, frame, _) in read.items()}
        firm_columns = [
            (n, c) for n, t in tables.items() for c in ("seller", "buyer", "firm") if c in t.column_names
        ]
        trade = ("invoices", "waybills", "payments")
        coded = pool.submit(_dictionary_codes, [tables[n][c] for n, c in firm_columns])
        keyed = pool.submit(_key_codes, [(frames[n].pop("key_hi"), frames[n].pop("key_lo")) for n in trade])
        for n, c in (("receipts", "receipt"), ("receipts", "pledgee"), ("leases", "lease")):
            frames[n][c] = _dictionary_codes([tables[n][c]])[1][0]
        start = 0
        for n, t in tables.items():
            frames[n]["row"] = np.arange(start, start + t.num_rows, dtype=np.int64)
            start += t.num_rows
        chunks = [part for _, _, parts in read.values() for part in parts]  # copied once, here
        leaves = np.concatenate(chunks) if chunks else np.zeros((0, 32), dtype=np.uint8)
        firms, codes = coded.result()
        keys, n_keys = keyed.result()
    for (n, c), code in zip(firm_columns, codes, strict=True):
        frames[n][c] = code
    for n, key in zip(trade, keys, strict=True):
        frames[n]["key"] = key
    invoices = frames["invoices"]
    if len(invoices["key"]) and np.bincount(invoices["key"]).max() > 1:
        # one row per invoice: the first on chain
        idx = np.lexsort((invoices["order"], invoices["key"]))
        first = np.ones(len(idx), dtype=bool)
        first[1:] = invoices["key"][idx][1:] != invoices["key"][idx][:-1]
        frames["invoices"] = {k: v[np.sort(idx[first])] for k, v in invoices.items()}
    names = np.asarray(firms.to_numpy(zero_copy_only=False), dtype=object)
    return Inputs(
        firms=names,
        hashes=shard_hash(pd.Series(names, dtype="str")),
        n_keys=n_keys,
        invoices=frames["invoices"],
        waybills=frames["waybills"],
        payments=frames["payments"],
        receipts=frames["receipts"],
        leases=frames["leases"],
        si=frames["si"],
        hf=frames["hf"],
        leaves=leaves,
    )


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
    return [month_end_on_or_before(date(int(m[:4]), int(m[5:7]), 28) + timedelta(days=4)) for m in months]


def feature_inputs(lake_uri: str, firm_id: str, as_of: date) -> list[str]:
    """The leaf hashes (hex) of the attested records ``firm_id``'s row of ``as_of`` was built
    from, in byte order: the SHA-256 of their 32 bytes each, concatenated, is the row's
    ``input_hash``."""
    as_of = month_end_on_or_before(as_of)
    _, used = compute(load_inputs(lake_uri, as_of), as_of, pd.Index([firm_id]), with_inputs=True)
    assert used is not None
    return list(used["leaf_hash"])


__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "FEATURE_SCHEMA",
    "FeatureError",
    "InputStore",
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
]
