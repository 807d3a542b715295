"""The portfolio's lake tables, each partitioned by ``as_of_month`` (one Parquet file per
month, written atomically, rewritten when the month is assessed again): ``ecl/``,
``ecl_movements/`` and ``model_monitoring/``."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from pipelines.lake import filesystem, read_parquet_files, write_parquet

_LIST = pa.list_(pa.string())

ECL_SCHEMA = pa.schema(
    [
        pa.field("loan_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("stage", pa.int64(), nullable=False),
        pa.field("stage_reason", pa.string(), nullable=False),
        pa.field("pd_12m", pa.float64(), nullable=False),
        pa.field("pd_lifetime", pa.float64(), nullable=False),
        pa.field("pd_lifetime_at_origination", pa.float64(), nullable=False),
        pa.field("lgd", pa.float64(), nullable=False),
        pa.field("ead_fen", pa.int64(), nullable=False),
        pa.field("collateral_value_fen", pa.int64(), nullable=False),
        pa.field("ecl_fen", pa.int64(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("collateral_receipts", _LIST, nullable=False),
        pa.field("collateral_record_ids", _LIST, nullable=False),
        pa.field("collateral_leaf_hashes", _LIST, nullable=False),
        pa.field("ecl_12m_fen", pa.int64(), nullable=False),
        pa.field("ecl_lifetime_fen", pa.int64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("dpd", pa.int64(), nullable=False),
        pa.field("grade", pa.string(), nullable=False),
        pa.field("state", pa.string(), nullable=False),  # the migration state: grade, dpd_30, dpd_60, default
        pa.field("behaviour_pd", pa.float64()),
        pa.field("grade_at_origination", pa.string(), nullable=False),
        pa.field("first_month_end", pa.date32(), nullable=False),
        pa.field("remaining_months", pa.int64(), nullable=False),
        pa.field("annual_rate", pa.float64(), nullable=False),
        pa.field("recovery_rate", pa.float64(), nullable=False),
    ]
)

MOVEMENT_SCHEMA = pa.schema(
    [
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("step", pa.int64(), nullable=False),
        pa.field("cause", pa.string(), nullable=False),
        pa.field("amount_fen", pa.int64(), nullable=False),
        pa.field("loans", pa.int64(), nullable=False),
    ]
)

MONITORING_SCHEMA = pa.schema(
    [
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("family", pa.string(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),  # psi | csi | calibration | missing | overrides
        pa.field("subject", pa.string(), nullable=False),  # score, a feature, a grade, or all
        pa.field("value", pa.float64()),
        pa.field("threshold", pa.float64()),
        pa.field("breach", pa.bool_(), nullable=False),
        pa.field("n", pa.int64(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),  # JSON
    ]
)

SCHEMAS = {"ecl": ECL_SCHEMA, "ecl_movements": MOVEMENT_SCHEMA, "model_monitoring": MONITORING_SCHEMA}


def partition_uri(lake_uri: str, table: str, as_of: date) -> str:
    return f"{lake_uri.rstrip('/')}/{table}/as_of_month={as_of:%Y-%m}/part-0.parquet"


def write_month(lake_uri: str, table: str, as_of: date, frame: pd.DataFrame) -> None:
    schema = SCHEMAS[table]
    if len(frame):
        data = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    else:
        data = schema.empty_table()
    write_parquet(partition_uri(lake_uri, table, as_of), data)


def read_months(
    lake_uri: str, table: str, before: date | None = None, columns: list[str] | None = None
) -> pd.DataFrame:
    """Every month of ``table`` (those before ``before``'s month when given), oldest first."""
    data = read_parquet_files(
        f"{lake_uri.rstrip('/')}/{table}", "as_of_month=*/part-0.parquet", SCHEMAS[table]
    )
    frame = data.select(columns) if columns else data
    out = frame.to_pandas()
    if before is not None and len(out):
        out = out[pd.to_datetime(out["as_of"]) < pd.Timestamp(before.replace(day=1))]
    return out.reset_index(drop=True)


def read_month(lake_uri: str, table: str, as_of: date) -> pd.DataFrame | None:
    """One month of ``table``, or None when it was not assessed."""
    uri = partition_uri(lake_uri, table, as_of)
    fs, path = filesystem(uri)
    if not fs.exists(path):
        return None
    return read_parquet_files(uri.rsplit("/", 1)[0], "part-0.parquet", SCHEMAS[table]).to_pandas()
