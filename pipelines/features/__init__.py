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
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.features.catalogue import FEATURE_NAMES, FEATURES, dictionary_markdown
from pipelines.features.compute import WINDOW, Inputs, compute, month_number, shard_hash
from pipelines.lake import filesystem, write_atomic

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


def read_verified(
    lake_uri: str,
    source: str,
    kind: str,
    columns: Sequence[str],
    as_of: date,
    since: int | None,
    where: pc.Expression | None = None,
) -> pa.Table:
    """Rows of ``kind`` sealed by the end of ``as_of`` (UTC), from sealed month ``since``
    (``month_number``) on, with ``columns`` and the attestation columns ``sealed_at, height,
    index, leaf_hash, record_id``; ``where`` filters further."""
    fs, root = filesystem(lake_uri)
    path = f"{root}/verified/{source}/{kind}"
    wanted = list(dict.fromkeys([*columns, "sealed_at", "height", "index", "leaf_hash", "record_id"]))
    if not fs.exists(path):
        from pipelines.schemas import record_schema

        return record_schema(kind).empty_table().select(wanted)
    cutoff = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
    cond = (pc.field("sealed_month") <= _month_text(month_number(as_of))) & (
        pc.field("sealed_at") < pa.scalar(cutoff, type=pa.timestamp("us", tz="UTC"))
    )
    if since is not None:
        cond = cond & (pc.field("sealed_month") >= _month_text(since))
    if where is not None:
        cond = cond & where
    data = ds.dataset(path, format="parquet", partitioning=_MONTH, filesystem=fs)
    return data.to_table(columns=wanted, filter=cond)


def _days(values: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(values, pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _months(values: pa.ChunkedArray) -> np.ndarray:
    years = np.asarray(pc.year(values).to_numpy(zero_copy_only=False), dtype=np.int64)
    months = np.asarray(pc.month(values).to_numpy(zero_copy_only=False), dtype=np.int64)
    return years * 12 + months - 1


def _order(t: pa.Table) -> np.ndarray:
    """The position of each row on chain: height, then index (heights are chain order)."""
    return np.asarray(t["height"].to_numpy(), dtype=np.int64) * 1_000_000_000 + np.asarray(
        t["index"].to_numpy(), dtype=np.int64
    )


def _text(values: pa.ChunkedArray) -> pd.Series:
    return pd.Series(values.to_numpy(zero_copy_only=False), dtype="str")


def _seller_key(t: pa.Table, seller_when: str) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """The selling firm of each trade row and the key ``seller|invoice_no``; ``seller_when``
    is the direction in which the filing firm is the seller."""
    is_seller = pc.equal(t["direction"], seller_when)
    seller = pc.if_else(is_seller, t["firm_id"], t["counterparty_id"])
    return seller, pc.binary_join_element_wise(seller, t["invoice_no"], "|")


def load_inputs(lake_uri: str, as_of: date) -> Inputs:
    """The rows every feature of ``as_of`` may use: trade and contributions of the 12 months
    window (their sealed month cannot be older than their business date), and the whole
    history of warehouse receipts and leases (a status lasts until it changes)."""
    since = month_number(as_of) - (WINDOW - 1)
    sc = "supply_chain"
    inv = read_verified(
        lake_uri,
        sc,
        "invoice",
        ["firm_id", "counterparty_id", "direction", "invoice_no", "amount_fen", "issued_on"],
        as_of,
        since,
    )
    seller, key = _seller_key(inv, "sale")
    buyer = pc.if_else(pc.equal(inv["direction"], "sale"), inv["counterparty_id"], inv["firm_id"])
    invoices = pd.DataFrame(
        {
            "seller": _text(seller),
            "buyer": _text(buyer),
            "key": _text(key),
            "amount_fen": inv["amount_fen"].to_numpy(),
            "day": _days(inv["issued_on"]),
            "month": _months(inv["issued_on"]),
            "leaf_hash": _text(inv["leaf_hash"]),
        }
    ).drop_duplicates("key")
    invoices["h_seller"] = shard_hash(invoices["seller"])
    invoices["h_buyer"] = shard_hash(invoices["buyer"])

    def matched(kind: str, seller_when: str, day: str) -> pd.DataFrame:
        cols = ["firm_id", "counterparty_id", "direction", "invoice_no", day]
        t = read_verified(lake_uri, sc, kind, cols, as_of, since)
        s, k = _seller_key(t, seller_when)
        frame = pd.DataFrame(
            {"seller": _text(s), "key": _text(k), "day": _days(t[day]), "leaf_hash": _text(t["leaf_hash"])}
        )
        frame["h_seller"] = shard_hash(frame["seller"])
        return frame

    waybills = matched("logistics", "sale", "shipped_on")
    payments = matched("payment", "sale", "paid_on")

    r = read_verified(
        lake_uri,
        sc,
        "warehouse_receipt",
        ["firm_id", "receipt_no", "status", "pledgee", "quantity", "unit_value_fen", "event_time"],
        as_of,
        None,
    )
    receipts = pd.DataFrame(
        {
            "firm_id": _text(r["firm_id"]),
            "receipt_no": _text(r["receipt_no"]),
            "status": _text(r["status"]),
            "pledgee": pd.Series(r["pledgee"].to_numpy(zero_copy_only=False), dtype="str"),
            "value_fen": np.asarray(pc.multiply(r["quantity"], r["unit_value_fen"]).to_numpy(), dtype=float),
            "month": _months(r["event_time"]),
            "order": _order(r),
            "leaf_hash": _text(r["leaf_hash"]),
        }
    )
    ls = read_verified(
        lake_uri, sc, "lease", ["firm_id", "lease_no", "status", "end_on", "event_time"], as_of, None
    )
    leases = pd.DataFrame(
        {
            "firm_id": _text(ls["firm_id"]),
            "lease_no": _text(ls["lease_no"]),
            "status": _text(ls["status"]),
            "end_day": _days(ls["end_on"]),
            "month": _months(ls["event_time"]),
            "order": _order(ls),
            "leaf_hash": _text(ls["leaf_hash"]),
        }
    )
    payroll = {}
    for prefix, source in (("si", "social_insurance"), ("hf", "housing_fund")):
        c = read_verified(
            lake_uri,
            source,
            "contribution",
            ["firm_id", "period", "headcount", "wage_base_fen", "due_fen", "paid_fen"],
            as_of,
            since,
        )
        period = pc.utf8_slice_codeunits(c["period"], 0, 4), pc.utf8_slice_codeunits(c["period"], 5, 7)
        years = np.asarray(pc.cast(period[0], pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        months = np.asarray(pc.cast(period[1], pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        payroll[prefix] = pd.DataFrame(
            {
                "firm_id": _text(c["firm_id"]),
                "month": years * 12 + months - 1,
                **{
                    col: np.asarray(c[col].to_numpy(), dtype=np.int64)
                    for col in ("headcount", "wage_base_fen", "due_fen", "paid_fen")
                },
                "order": _order(c),
                "leaf_hash": _text(c["leaf_hash"]),
            }
        )
    for frame in (receipts, leases, payroll["si"], payroll["hf"]):
        frame["h_firm"] = shard_hash(frame["firm_id"])
    return Inputs(invoices, waybills, payments, receipts, leases, payroll["si"], payroll["hf"])


def _to_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, schema=FEATURE_SCHEMA, preserve_index=False)


def compute_shards(inputs: Inputs, as_of: date, shards: int = 1) -> pd.DataFrame:
    """Every firm's row, computed shard by shard and merged in ``firm_id`` order."""
    parts = [shard_rows(inputs, as_of, k, shards) for k in range(shards)]
    return pd.concat(parts, ignore_index=True).sort_values("firm_id", ignore_index=True)


def shard_rows(inputs: Inputs, as_of: date, k: int, n: int) -> pd.DataFrame:
    """The rows of the firms of shard ``k`` of ``n``."""
    mine = inputs.shard(k, n)
    firms = mine.firms()
    if n > 1:
        firms = firms[shard_hash(pd.Series(firms, dtype="str")) % n == k]
    rows, _ = compute(mine, as_of, firms)
    return rows


def snapshot_uri(lake_uri: str, as_of: date) -> str:
    return f"{lake_uri.rstrip('/')}/features/as_of_month={as_of:%Y-%m}/part-0.parquet"


def _write(uri: str, frame: pd.DataFrame) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(_to_table(frame), sink)
    write_atomic(uri, sink.getvalue().to_pybytes())


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
    sink = pa.BufferOutputStream()
    pq.write_table(merged, sink)
    write_atomic(uri, sink.getvalue().to_pybytes())
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
    _, used = compute(load_inputs(lake_uri, as_of), as_of, pd.Index([firm_id]))
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
