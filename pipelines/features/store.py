"""The feature input store: each sealed month of each verified table, compacted for features.

A snapshot reads 12 months of trade and contributions and the whole history of warehouse
receipts and leases. Straight from the verified tables that is thousands of small files and
millions of strings to code, again for every snapshot. The store keeps, per kind and sealed
month, one Parquet file

    <lake>/feature_inputs/<source>/<kind>/sealed_month=YYYY-MM/part-0.parquet

with only what the features use, in the form they use it:

- firm ids (seller and buyer of trade rows, the filer otherwise), receipt, lease and pledgee
  ids as dictionary columns;
- the invoice key (seller and invoice number) as a 128-bit hash in two ``uint64`` columns;
- dates as day numbers (since 1970-01-01) and month numbers (year * 12 + month - 1), the
  chain position ``order`` (height * 10^9 + index), the sealing instant in microseconds;
- the leaf hash as 32 raw bytes; rows sorted by it.

A month's file records the fingerprint (name, size and modification time) of the verified
files it was compacted from. When they change, as when a late bundle lands in that month, the
file is compacted again on the next read. The store is a cache of the verified tables:
deleting it loses nothing.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.calendar import (
    micros,
    month_number,
    month_numbers,
    month_of,
    month_text,
    period_numbers,
    sealed_cutoff,
)
from pipelines.errors import SmecreditError
from pipelines.features.compute import leaf_order
from pipelines.lake import filesystem, write_atomic

STORE_VERSION = "1"
"""Bumped whenever the compact form changes; files of another version are compacted again."""
KEY_HASH_KEYS = ("smecredit:key:hi", "smecredit:key:lo")
"""SipHash keys (16 bytes each) of the two halves of an invoice key's hash."""
LEAF_BYTES = 32

_STATUSES = pa.array(["issued", "pledged", "released"])
_NIBBLE = np.zeros(256, dtype=np.uint8)  # ASCII hex digit -> its value
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_DICT = pa.dictionary(pa.int32(), pa.string())
_COMMON = [
    pa.field("order", pa.int64(), nullable=False),
    pa.field("sealed_us", pa.int64(), nullable=False),
    pa.field("leaf", pa.binary(LEAF_BYTES), nullable=False),
]
_KEY = [pa.field("key_hi", pa.uint64(), nullable=False), pa.field("key_lo", pa.uint64(), nullable=False)]
_I32, _I64, _F64 = pa.int32(), pa.int64(), pa.float64()
SCHEMAS: dict[str, pa.Schema] = {
    "invoice": pa.schema(
        [
            ("seller", _DICT),
            ("buyer", _DICT),
            *_KEY,
            ("amount_fen", _I64),
            ("day", _I32),
            ("month", _I32),
            *_COMMON,
        ]
    ),
    "logistics": pa.schema([("seller", _DICT), *_KEY, ("day", _I32), *_COMMON]),
    "payment": pa.schema([("seller", _DICT), *_KEY, ("day", _I32), *_COMMON]),
    "warehouse_receipt": pa.schema(
        [
            ("firm", _DICT),
            ("receipt", _DICT),
            ("status", pa.int8()),
            ("pledgee", _DICT),
            ("value_fen", _F64),
            ("month", _I32),
            *_COMMON,
        ]
    ),
    "lease": pa.schema(
        [
            ("firm", _DICT),
            ("lease", _DICT),
            ("terminated", pa.int8()),
            ("end_day", _I32),
            ("month", _I32),
            *_COMMON,
        ]
    ),
    "contribution": pa.schema(
        [
            ("firm", _DICT),
            ("month", _I32),
            ("headcount", _I64),
            ("wage_base_fen", _I64),
            ("due_fen", _I64),
            ("paid_fen", _I64),
            *_COMMON,
        ]
    ),
}
"""The compact table of each kind (both contribution sources share one)."""


class FeatureError(SmecreditError):
    """A snapshot or its inputs cannot be built or read; the message says which and why."""


def seller_buyer(t: pa.Table) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """The selling and the buying firm of each trade row (the filer is the seller of a row
    with direction ``sale``)."""
    sale = pc.equal(t["direction"], "sale")
    return pc.if_else(sale, t["firm_id"], t["counterparty_id"]), pc.if_else(
        sale, t["counterparty_id"], t["firm_id"]
    )


def key_hash(
    sellers: pa.ChunkedArray | pa.Array, numbers: pa.ChunkedArray | pa.Array
) -> tuple[np.ndarray, np.ndarray]:
    """The 128-bit hash of each invoice key ``seller + "\\x1f" + invoice_no``, as two uint64
    halves (SipHash-2-4 under ``KEY_HASH_KEYS``, as ``pandas.util.hash_array`` computes it)."""
    text = pc.binary_join_element_wise(sellers, numbers, "\x1f")
    values = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    hi, lo = (
        np.asarray(pd.util.hash_array(values, encoding="utf8", hash_key=k, categorize=False), dtype=np.uint64)
        for k in KEY_HASH_KEYS
    )
    return hi, lo


def leaf_bytes(hexes: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Lowercase hex leaf hashes as an (n, 32) array of bytes, without a Python object per row."""
    fixed = pc.cast(pc.cast(hexes, pa.binary()), pa.binary(2 * LEAF_BYTES))
    array = fixed.combine_chunks() if isinstance(fixed, pa.ChunkedArray) else fixed
    if len(array) == 0:
        return np.zeros((0, LEAF_BYTES), dtype=np.uint8)
    text = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    text = text[array.offset * 2 * LEAF_BYTES : (array.offset + len(array)) * 2 * LEAF_BYTES].reshape(
        -1, 2 * LEAF_BYTES
    )
    nibbles = _NIBBLE[text]
    return np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])


def as_numpy(values: pa.ChunkedArray | pa.Array, dtype: type | str = np.int64) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)


def _days(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return as_numpy(pc.cast(values, pa.int32()), np.int32)


def _dictionary(values: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = pc.dictionary_encode(array)
    return encoded.cast(_DICT) if encoded.type != _DICT else encoded


def _common(t: pa.Table) -> dict[str, object]:
    order = as_numpy(t["height"]) * 1_000_000_000 + as_numpy(t["index"])
    leaves = leaf_bytes(t["leaf_hash"])
    return {
        "order": order,
        "sealed_us": micros(t["sealed_at"]),
        "leaf": pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(LEAF_BYTES), len(leaves), [None, pa.py_buffer(leaves.tobytes())]
        ),
    }


def _invoice(t: pa.Table) -> dict[str, object]:
    seller, buyer = seller_buyer(t)
    hi, lo = key_hash(seller, t["invoice_no"])
    return {
        "seller": _dictionary(seller),
        "buyer": _dictionary(buyer),
        "key_hi": hi,
        "key_lo": lo,
        "amount_fen": as_numpy(t["amount_fen"]),
        "day": _days(t["issued_on"]),
        "month": month_numbers(t["issued_on"]),
    }


def _matched(day: str) -> Callable[[pa.Table], dict[str, object]]:
    def build(t: pa.Table) -> dict[str, object]:
        seller, _ = seller_buyer(t)
        hi, lo = key_hash(seller, t["invoice_no"])
        return {"seller": _dictionary(seller), "key_hi": hi, "key_lo": lo, "day": _days(t[day])}

    return build


def _receipt(t: pa.Table) -> dict[str, object]:
    return {
        "firm": _dictionary(t["firm_id"]),
        "receipt": _dictionary(t["receipt_no"]),
        "status": as_numpy(pc.index_in(t["status"], value_set=_STATUSES), np.int8),
        "pledgee": _dictionary(t["pledgee"]),
        "value_fen": as_numpy(pc.multiply(t["quantity"], t["unit_value_fen"]), float),
        "month": month_numbers(t["event_time"]),
    }


def _lease(t: pa.Table) -> dict[str, object]:
    return {
        "firm": _dictionary(t["firm_id"]),
        "lease": _dictionary(t["lease_no"]),
        "terminated": as_numpy(pc.equal(t["status"], "terminated"), np.int8),
        "end_day": _days(t["end_on"]),
        "month": month_numbers(t["event_time"]),
    }


def _contribution(t: pa.Table) -> dict[str, object]:
    return {
        "firm": _dictionary(t["firm_id"]),
        "month": period_numbers(t["period"]),
        **{c: as_numpy(t[c]) for c in ("headcount", "wage_base_fen", "due_fen", "paid_fen")},
    }


_TRADE_COLUMNS = ["firm_id", "counterparty_id", "direction", "invoice_no"]
_BUILDERS: dict[str, tuple[list[str], Callable[[pa.Table], dict[str, object]]]] = {
    "invoice": ([*_TRADE_COLUMNS, "amount_fen", "issued_on"], _invoice),
    "logistics": ([*_TRADE_COLUMNS, "shipped_on"], _matched("shipped_on")),
    "payment": ([*_TRADE_COLUMNS, "paid_on"], _matched("paid_on")),
    "warehouse_receipt": (
        ["firm_id", "receipt_no", "status", "pledgee", "quantity", "unit_value_fen", "event_time"],
        _receipt,
    ),
    "lease": (["firm_id", "lease_no", "status", "end_on", "event_time"], _lease),
    "contribution": (
        ["firm_id", "period", "headcount", "wage_base_fen", "due_fen", "paid_fen"],
        _contribution,
    ),
}
_ATTESTATION = ["sealed_at", "height", "index", "leaf_hash"]


def compact(kind: str, verified: pa.Table) -> pa.Table:
    """The compact form of verified rows of ``kind``, sorted by leaf hash."""
    columns, build = _BUILDERS[kind]
    t = verified.select([*columns, *_ATTESTATION])
    data = {**build(t), **_common(t)}
    schema = SCHEMAS[kind]
    table = pa.table({f.name: data[f.name] for f in schema}, schema=schema)
    if table.num_rows > 1:
        table = table.take(pa.array(leaf_order(leaves_of(table["leaf"]))))
    return table


def leaf_chunks(col: pa.ChunkedArray) -> list[np.ndarray]:
    """The chunks of a ``leaf`` column of compact tables (fixed-size binary) as (n, 32) byte
    arrays over Arrow's buffers, without a copy."""
    parts = []
    for chunk in col.chunks:
        raw = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
        parts.append(raw[chunk.offset * LEAF_BYTES : (chunk.offset + len(chunk)) * LEAF_BYTES])
    return [p.reshape(-1, LEAF_BYTES) for p in parts]


def leaves_of(col: pa.ChunkedArray) -> np.ndarray:
    """The ``leaf`` column of compact tables as one (n, 32) byte array."""
    parts = leaf_chunks(col)
    return np.concatenate(parts) if parts else np.zeros((0, LEAF_BYTES), dtype=np.uint8)


class InputStore:
    """Compact monthly inputs of one lake, compacted on first use and on any change of the
    verified month behind them. With ``keep`` (a run over many days), months are kept in
    memory once read and the lake is listed once: the lake must not change during the run."""

    def __init__(self, lake_uri: str, keep: bool = False) -> None:
        self.lake_uri = lake_uri.rstrip("/")
        self.fs, self.root = filesystem(self.lake_uri)
        self.keep = keep
        self.compacted: list[tuple[str, str, int]] = []
        """(source, kind, month) of each month this store compacted, in order."""
        self._months: dict[tuple[str, str], list[int]] = {}
        self._tables: dict[tuple[str, str, int], pa.Table] = {}

    def _verified(self, source: str, kind: str) -> str:
        return f"{self.root}/verified/{source}/{kind}"

    def months(self, source: str, kind: str) -> list[int]:
        """The sealed months of ``kind`` in the verified table, oldest first."""
        if self.keep and (source, kind) in self._months:
            return self._months[(source, kind)]
        path = self._verified(source, kind)
        found = []
        if self.fs.exists(path):
            for entry in self.fs.ls(path, detail=False):
                name = str(entry).rstrip("/").rsplit("/", 1)[-1]
                if name.startswith("sealed_month=") and len(name) == len("sealed_month=YYYY-MM"):
                    y, m = name.split("=", 1)[1].split("-")
                    if y.isdigit() and m.isdigit():
                        found.append(month_of(f"{y}-{m}"))
        found.sort()
        if self.keep:
            self._months[(source, kind)] = found
        return found

    def uri(self, source: str, kind: str, month: int) -> str:
        return (
            f"{self.lake_uri}/feature_inputs/{source}/{kind}/sealed_month={month_text(month)}/part-0.parquet"
        )

    def _files(self, source: str, kind: str, month: int) -> list[dict[str, object]]:
        path = f"{self._verified(source, kind)}/sealed_month={month_text(month)}"
        entries = [e for e in self.fs.ls(path, detail=True) if str(e["name"]).endswith(".parquet")]
        return sorted(entries, key=lambda e: str(e["name"]))

    @staticmethod
    def _fingerprint(files: Iterable[dict[str, object]]) -> str:
        lines = []
        for e in files:
            modified = next(
                (e[k] for k in ("mtime", "LastModified", "last_modified", "updated", "created") if k in e), ""
            )
            lines.append(f"{str(e['name']).rsplit('/', 1)[-1]}\t{e.get('size')}\t{modified}")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def month(self, source: str, kind: str, month: int) -> pa.Table:
        """The compact table of ``kind`` sealed in ``month`` (``month_number``), compacting it
        from the verified files when the stored one is missing or stale.

        Raises:
            FeatureError: the verified files of that month cannot be read.
        """
        cached = self._tables.get((source, kind, month))
        if cached is not None:
            return cached
        table = self._up_to_date(source, kind, month, rows=True)
        assert table is not None
        if self.keep:
            self._tables[(source, kind, month)] = table
        return table

    def _up_to_date(self, source: str, kind: str, month: int, rows: bool) -> pa.Table | None:
        """Make the stored month current, compacting it if it is missing, stale or damaged.
        Returns its rows; with ``rows`` False, None when the stored file was current (only its
        footer is read)."""
        files = self._files(source, kind, month)
        fingerprint = self._fingerprint(files)
        uri = self.uri(source, kind, month)
        fs, path = filesystem(uri)
        if fs.exists(path):
            try:
                if rows:
                    stored = pq.read_table(io.BytesIO(fs.cat_file(path)))
                    if _current(stored.schema, kind, fingerprint):
                        return stored.replace_schema_metadata(None)
                else:
                    with fs.open(path, "rb") as f:
                        if _current(pq.read_schema(f), kind, fingerprint):
                            return None
            except (OSError, pa.ArrowException):  # damaged: compacted again below
                pass
        return self._compact(source, kind, month, files, fingerprint, uri)

    def _compact(
        self,
        source: str,
        kind: str,
        month: int,
        files: list[dict[str, object]],
        fingerprint: str,
        uri: str,
    ) -> pa.Table:
        from pipelines.schemas import record_schema

        schema = record_schema(kind)
        columns, _ = _BUILDERS[kind]
        wanted = [*columns, *_ATTESTATION]
        parts = []
        for e in files:
            try:
                parts.append(
                    pq.read_table(io.BytesIO(self.fs.cat_file(str(e["name"]))), columns=wanted, schema=schema)
                )
            except (OSError, pa.ArrowException) as exc:
                raise FeatureError(f"cannot read verified file {e['name']}: {exc}") from exc
        verified = pa.concat_tables(parts) if parts else schema.empty_table().select(wanted)
        table = compact(kind, verified)
        sink = pa.BufferOutputStream()
        pq.write_table(
            table.replace_schema_metadata(
                {"smecredit.store_version": STORE_VERSION, "smecredit.source_fingerprint": fingerprint}
            ),
            sink,
            dictionary_pagesize_limit=1 << 26,
            compression="lz4",
        )
        write_atomic(uri, sink.getvalue().to_pybytes())
        self.compacted.append((source, kind, month))
        return table

    def _window(self, source: str, kind: str, as_of: date, since: int | None) -> list[int]:
        """The sealed months of ``kind`` from ``since`` (None: the first) to ``as_of``'s."""
        last = month_number(as_of)
        return [m for m in self.months(source, kind) if m <= last and (since is None or m >= since)]

    def read(self, source: str, kind: str, as_of: date, since: int | None) -> pa.Table:
        """The compact rows of ``kind`` sealed by the end of ``as_of`` (UTC), from sealed month
        ``since`` on (None: from the first)."""
        tables = [self.month(source, kind, m) for m in self._window(source, kind, as_of, since)]
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return SCHEMAS[kind].empty_table()
        table = pa.concat_tables(tables)
        cutoff = micros(pa.array([sealed_cutoff(as_of)]))[0]
        late = pc.greater_equal(table["sealed_us"], cutoff)
        if pc.any(late).as_py():
            table = table.filter(pc.invert(late))
        return table

    def refresh(
        self, as_of_dates: Iterable[date], window: int, threads: int = 2
    ) -> list[tuple[str, str, int]]:
        """Compact every month the snapshots of ``as_of_dates`` read that is missing or stale
        (trade and contributions over ``window`` months, receipts and leases from the first);
        returns what was compacted, sorted. Months already current are only checked (their
        footer); the others are compacted ``threads`` at a time."""
        before = len(self.compacted)
        wanted = {
            (source, kind, m)
            for as_of in as_of_dates
            for source, kind in KINDS
            for m in self._window(
                source, kind, as_of, None if kind in HISTORY else month_number(as_of) - (window - 1)
            )
        }
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda job: self._up_to_date(job[0], job[1], job[2], rows=False), sorted(wanted)))
        return sorted(self.compacted[before:])


def _current(schema: pa.Schema, kind: str, fingerprint: str) -> bool:
    """Whether a stored compact file of this schema is of this version, of the verified files
    with this fingerprint, and of the current compact schema."""
    meta = schema.metadata or {}
    return (
        meta.get(b"smecredit.store_version") == STORE_VERSION.encode()
        and meta.get(b"smecredit.source_fingerprint") == fingerprint.encode()
        and schema.remove_metadata().equals(SCHEMAS[kind])
    )


KINDS: tuple[tuple[str, str], ...] = (
    ("supply_chain", "invoice"),
    ("supply_chain", "logistics"),
    ("supply_chain", "payment"),
    ("supply_chain", "warehouse_receipt"),
    ("supply_chain", "lease"),
    ("social_insurance", "contribution"),
    ("housing_fund", "contribution"),
)
"""The verified tables the features read, as (source, kind)."""
HISTORY = ("warehouse_receipt", "lease")
"""Kinds read over their whole history (a status lasts until it changes), not a window."""
