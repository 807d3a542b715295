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
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.features.catalogue import FEATURE_NAMES, FEATURES, dictionary_markdown
from pipelines.features.compute import WINDOW, Inputs, compute, compute_codes, month_number, shard_hash
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


class FeatureError(Exception):
    """A snapshot cannot be built or read; the message says which and why."""


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


def _month_text(n: int) -> str:
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def sealed_cutoff(as_of: date) -> datetime:
    """The first instant (UTC) after ``as_of``: what is sealed before it counts."""
    return datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)


def _month_start(n: int) -> datetime:
    """The first instant (UTC) of month ``n`` (``month_number``)."""
    return datetime(n // 12, n % 12 + 1, 1, tzinfo=UTC)


def _sealed_by(as_of: date, since: int | None, where: pc.Expression | None) -> pc.Expression:
    cond = (pc.field("sealed_month") <= _month_text(month_number(as_of))) & (
        pc.field("sealed_at") < pa.scalar(sealed_cutoff(as_of), type=pa.timestamp("us", tz="UTC"))
    )
    if since is not None:
        cond = cond & (pc.field("sealed_month") >= _month_text(since))
    return cond if where is None else cond & where


ATTESTATION = ("sealed_at", "height", "index", "leaf_hash", "record_id")
_FOR_FEATURES = ("height", "index", "leaf_hash")  # what load_inputs uses of the attestation


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
            self._tables[key] = (table, _micros(table["sealed_at"]))
        table, stamps = self._tables[key]
        hi = int(np.searchsorted(stamps, _micros(pa.array([sealed_cutoff(as_of)]))[0]))
        lo = 0
        if since is not None:
            lo = int(np.searchsorted(stamps, _micros(pa.array([_month_start(since)]))[0]))
        part = table.slice(lo, max(hi - lo, 0))
        if where is not None:
            part = part.filter(where)
        return part.select(list(dict.fromkeys([*columns, *attestation])))


def _micros(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch, UTC."""
    return _np(pc.cast(pc.cast(values, pa.timestamp("us", tz="UTC")), pa.int64()))


def _np(values: pa.ChunkedArray | pa.Array, dtype: type | str = np.int64) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)


def _days(values: pa.ChunkedArray) -> np.ndarray:
    return _np(pc.cast(values, pa.int32()))


def _months(values: pa.ChunkedArray) -> np.ndarray:
    months: np.ndarray = _np(pc.year(values)) * 12 + _np(pc.month(values)) - 1
    return months


def _order(t: pa.Table) -> np.ndarray:
    """The position of each row on chain: height, then index (heights are chain order)."""
    order: np.ndarray = _np(t["height"]) * 1_000_000_000 + _np(t["index"])
    return order


def _leaf(values: pa.ChunkedArray) -> np.ndarray:
    """Hex leaf hashes as fixed 64-byte strings, without a Python object per row."""
    fixed = pc.cast(pc.cast(values, pa.binary()), pa.binary(64))
    array = fixed.combine_chunks() if isinstance(fixed, pa.ChunkedArray) else fixed
    if len(array) == 0:
        return np.zeros(0, dtype="S64")
    data = np.frombuffer(array.buffers()[1], dtype="S64")
    return np.array(data[array.offset : array.offset + len(array)])


class _Codes:
    """Integer codes of strings, shared by every column coded with one instance."""

    def __init__(self, columns: Sequence[pa.ChunkedArray | pa.Array]) -> None:
        chunks = [c for col in columns for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col])]
        merged = pa.chunked_array(chunks, type=pa.string()) if chunks else pa.chunked_array([], pa.string())
        unique = pc.unique(merged.drop_null() if merged.null_count else merged)
        self.values = unique.take(pc.sort_indices(unique))

    def __call__(self, col: pa.ChunkedArray | pa.Array) -> np.ndarray:
        codes = pc.index_in(col, value_set=self.values)
        return _np(pc.fill_null(codes, -1))

    def __len__(self) -> int:
        return len(self.values)


def _seller_buyer(t: pa.Table) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """The selling and the buying firm of each trade row (the filer is the seller of a row
    with direction ``sale``)."""
    sale = pc.equal(t["direction"], "sale")
    return pc.if_else(sale, t["firm_id"], t["counterparty_id"]), pc.if_else(
        sale, t["counterparty_id"], t["firm_id"]
    )


def load_inputs(lake_uri: str, as_of: date, read: Reader | None = None) -> Inputs:
    """The rows every feature of ``as_of`` may use: trade and contributions of the 12 months
    window (their sealed month cannot be older than their business date), and the whole
    history of warehouse receipts and leases (a status lasts until it changes). Strings are
    coded as integers here, once, by Arrow. ``read`` replaces ``read_verified`` (with a
    ``VerifiedCache`` for runs over many days)."""
    read = read or read_verified
    since = month_number(as_of) - (WINDOW - 1)
    sc = "supply_chain"
    trade = ["firm_id", "counterparty_id", "direction", "invoice_no"]
    inv = read(
        lake_uri, sc, "invoice", [*trade, "amount_fen", "issued_on"], as_of, since, attestation=_FOR_FEATURES
    )
    bills = read(lake_uri, sc, "logistics", [*trade, "shipped_on"], as_of, since, attestation=_FOR_FEATURES)
    pays = read(lake_uri, sc, "payment", [*trade, "paid_on"], as_of, since, attestation=_FOR_FEATURES)
    rec = read(
        lake_uri,
        sc,
        "warehouse_receipt",
        ["firm_id", "receipt_no", "status", "pledgee", "quantity", "unit_value_fen", "event_time"],
        as_of,
        None,
        attestation=_FOR_FEATURES,
    )
    lease_cols = ["firm_id", "lease_no", "status", "end_on", "event_time"]
    ls = read(lake_uri, sc, "lease", lease_cols, as_of, None, attestation=_FOR_FEATURES)
    contrib = ["firm_id", "period", "headcount", "wage_base_fen", "due_fen", "paid_fen"]
    si = read(lake_uri, "social_insurance", "contribution", contrib, as_of, since, attestation=_FOR_FEATURES)
    hf = read(lake_uri, "housing_fund", "contribution", contrib, as_of, since, attestation=_FOR_FEATURES)

    parties = {name: _seller_buyer(t) for name, t in (("inv", inv), ("bills", bills), ("pays", pays))}
    firm_cols = [c for pair in parties.values() for c in pair] + [t["firm_id"] for t in (rec, ls, si, hf)]
    firms = _Codes(firm_cols)
    keys_of = {
        name: pc.binary_join_element_wise(parties[name][0], t["invoice_no"], "|")
        for name, t in (("inv", inv), ("bills", bills), ("pays", pays))
    }
    keys = _Codes(list(keys_of.values()))

    invoices = {
        "seller": firms(parties["inv"][0]),
        "buyer": firms(parties["inv"][1]),
        "key": keys(keys_of["inv"]),
        "amount_fen": _np(inv["amount_fen"]),
        "day": _days(inv["issued_on"]),
        "month": _months(inv["issued_on"]),
        "leaf": _leaf(inv["leaf_hash"]),
    }
    if len(invoices["key"]):  # one row per invoice (seller and number)
        _, first = np.unique(invoices["key"], return_index=True)
        invoices = {k: v[np.sort(first)] for k, v in invoices.items()}

    def matched(name: str, t: pa.Table, day: str) -> dict[str, np.ndarray]:
        return {
            "seller": firms(parties[name][0]),
            "key": keys(keys_of[name]),
            "day": _days(t[day]),
            "leaf": _leaf(t["leaf_hash"]),
        }

    statuses = _Codes([pa.array(["issued", "pledged", "released"])])
    pledgees = _Codes([rec["pledgee"]])
    receipts = {
        "firm": firms(rec["firm_id"]),
        "receipt": _Codes([rec["receipt_no"]])(rec["receipt_no"]),
        "status": statuses(rec["status"]),
        "pledgee": pledgees(rec["pledgee"]),
        "value_fen": _np(pc.multiply(rec["quantity"], rec["unit_value_fen"]), float),
        "month": _months(rec["event_time"]),
        "order": _order(rec),
        "leaf": _leaf(rec["leaf_hash"]),
    }
    leases = {
        "firm": firms(ls["firm_id"]),
        "lease": _Codes([ls["lease_no"]])(ls["lease_no"]),
        "terminated": _np(pc.equal(ls["status"], "terminated")).astype(np.int64),
        "end_day": _days(ls["end_on"]),
        "month": _months(ls["event_time"]),
        "order": _order(ls),
        "leaf": _leaf(ls["leaf_hash"]),
    }

    def payroll(c: pa.Table) -> dict[str, np.ndarray]:
        years = _np(pc.cast(pc.utf8_slice_codeunits(c["period"], 0, 4), pa.int64()))
        months = _np(pc.cast(pc.utf8_slice_codeunits(c["period"], 5, 7), pa.int64()))
        return {
            "firm": firms(c["firm_id"]),
            "month": years * 12 + months - 1,
            **{col: _np(c[col]) for col in ("headcount", "wage_base_fen", "due_fen", "paid_fen")},
            "order": _order(c),
            "leaf": _leaf(c["leaf_hash"]),
        }

    names = np.asarray(firms.values.to_numpy(zero_copy_only=False), dtype=object)
    return Inputs(
        firms=names,
        hashes=shard_hash(pd.Series(names, dtype="str")),
        n_keys=len(keys),
        invoices=invoices,
        waybills=matched("bills", bills, "shipped_on"),
        payments=matched("pays", pays, "paid_on"),
        receipts=receipts,
        leases=leases,
        si=payroll(si),
        hf=payroll(hf),
    )


def _to_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, schema=FEATURE_SCHEMA, preserve_index=False)


def compute_shards(inputs: Inputs, as_of: date, shards: int = 1) -> pd.DataFrame:
    """Every firm's row, computed shard by shard and merged in ``firm_id`` order."""
    parts = [shard_rows(inputs, as_of, k, shards) for k in range(shards)]
    return pd.concat(parts, ignore_index=True).sort_values("firm_id", ignore_index=True)


def shard_rows(inputs: Inputs, as_of: date, k: int, n: int) -> pd.DataFrame:
    """The rows of the firms of shard ``k`` of ``n``."""
    codes = inputs.codes_of_shard(k, n)
    rows, _ = compute_codes(inputs.shard(k, n), as_of, inputs.firms[codes], codes)
    return rows


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
    """The leaf hashes of the attested records ``firm_id``'s row of ``as_of`` was built from
    (their SHA-256, joined with newlines, is the row's ``input_hash``)."""
    as_of = month_end_on_or_before(as_of)
    _, used = compute(load_inputs(lake_uri, as_of), as_of, pd.Index([firm_id]), with_inputs=True)
    assert used is not None
    return list(used["leaf_hash"])


__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "FEATURE_SCHEMA",
    "FeatureError",
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
]
