"""The portfolio's lake tables, each partitioned by ``as_of_month`` (one Parquet file per
month, written atomically, rewritten when the month is assessed again): ``ecl/``,
``ecl_movements/`` and ``model_monitoring/``."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from pipelines.lake import filesystem, read_parquet_files, write_parquet
from pipelines.schemas import ECL_SCHEMA, MONITORING_SCHEMA, MOVEMENT_SCHEMA

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
