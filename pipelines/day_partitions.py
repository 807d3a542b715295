"""The lake's daily tables (pre-loan scores, in-loan reviews, behaviour scores): one file per
day, in a folder per month, ``<table>/<month key>=YYYY-MM/day-YYYY-MM-DD.parquet``.

The day itself (``applied_on``, ``day``) is a ``date32`` column inside the files and never a
folder name, so pyarrow's and pandas' hive partitioning (which would read a folder
``applied_on=2025-03-01`` as a string and refuse to merge it with the files' ``date32``) and
DuckDB's (which would read it as a ``DATE``) all give the same ``date32`` column; the month
key is a string folder only. A rerun of a day rewrites its one file atomically.

Lakes written before this layout kept each day in ``<table>/<day column>=YYYY-MM-DD/part-0.parquet``.
The readers here read both (a day in the new layout wins); writing a day removes its old
file; ``migrate`` moves every old file of a lake into the new layout at once, after which the
README's recipes read the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pipelines.lake import filesystem, read_parquet_files, write_parquet


@dataclass(frozen=True)
class DayTable:
    """A daily table: its folder under the lake, the month folder's key and the day column."""

    path: str
    month_key: str
    day_column: str

    def root(self, lake_uri: str) -> str:
        return f"{lake_uri.rstrip('/')}/{self.path}"

    def uri(self, lake_uri: str, day: date) -> str:
        """Where ``day``'s rows live."""
        return f"{self.root(lake_uri)}/{self.month_key}={day:%Y-%m}/day-{day.isoformat()}.parquet"

    def legacy_uri(self, lake_uri: str, day: date) -> str:
        """Where a lake written before this layout kept ``day``'s rows."""
        return f"{self.root(lake_uri)}/{self.day_column}={day.isoformat()}/part-0.parquet"


PRE_LOAN_SCORES = DayTable("scores/pre_loan", "applied_month", "applied_on")
IN_LOAN_REVIEWS = DayTable("reviews/in_loan", "applied_month", "applied_on")
BEHAVIOUR_SCORES = DayTable("scores/behaviour", "monitored_month", "day")
DAY_TABLES = (PRE_LOAN_SCORES, IN_LOAN_REVIEWS, BEHAVIOUR_SCORES)


def write_day(table: DayTable, lake_uri: str, day: date, rows: Any | None) -> None:
    """(Re)write ``day``'s file with the pyarrow table ``rows``; ``None`` removes it (a day
    with no rows leaves no file). The day's file of the old layout, if any, is removed."""
    if rows is not None:
        write_parquet(table.uri(lake_uri, day), rows)
    else:
        _remove(table.uri(lake_uri, day))
    _remove(table.legacy_uri(lake_uri, day))


def read_days(table: DayTable, lake_uri: str, schema: Any) -> Any:
    """Every day of ``table`` as one pyarrow table of ``schema`` (empty when none), days of
    the old layout included unless the new layout has them too."""
    new = read_parquet_files(table.root(lake_uri), f"{table.month_key}=*/day-*.parquet", schema)
    old = read_parquet_files(table.root(lake_uri), f"{table.day_column}=*/part-0.parquet", schema)
    if old.num_rows == 0:
        return new
    import pyarrow as pa
    import pyarrow.compute as pc

    have = (
        pc.unique(new[table.day_column])
        if new.num_rows
        else pa.array([], schema.field(table.day_column).type)
    )
    old = old.filter(pc.invert(pc.is_in(old[table.day_column], value_set=have)))
    return pa.concat_tables([new, old]).sort_by([(table.day_column, "ascending")])


def migrate(lake_uri: str) -> dict[str, int]:
    """Move every day file of the old layout into the new one (rewritten with the table's
    schema, the old file then removed); the days moved per table. Safe to run again."""
    import pyarrow.parquet as pq

    moved: dict[str, int] = {}
    for table in DAY_TABLES:
        fs, root = filesystem(table.root(lake_uri))
        old = sorted(fs.glob(f"{root}/{table.day_column}=*/part-0.parquet"))
        for path in old:
            day = date.fromisoformat(str(path).rsplit(f"{table.day_column}=", 1)[1][:10])
            with fs.open(path, "rb") as f:
                rows = pq.read_table(f, partitioning=None)
            write_parquet(table.uri(lake_uri, day), rows)
            _remove(table.legacy_uri(lake_uri, day))
        moved[table.path] = len(old)
    return moved


def _remove(uri: str) -> None:
    """Remove the file at ``uri`` if it is there, and its folder once empty."""
    fs, path = filesystem(uri)
    if fs.exists(path):
        fs.rm(path)
    parent = path.rsplit("/", 1)[0]
    if fs.isdir(parent) and not fs.ls(parent):
        fs.rmdir(parent)
