"""Every lake table opens with docs/lake.md's recipes: pyarrow's dataset with hive
partitioning, ``pandas.read_parquet`` and DuckDB's ``read_parquet(..., hive_partitioning =
true)``, each giving the table's own column types and the partition key as a string."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines import day_partitions
from pipelines.schemas import KINDS, lake_tables
from tests.conftest import lake_settings

pytestmark = pytest.mark.timeout(1800)  # the session fixtures simulate, ingest, train and score a world
MONITORED = date(2025, 3, 2)
_DUCK = {  # DuckDB's name of each Arrow type the lake uses
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
    pa.list_(pa.string()): "VARCHAR[]",
    pa.binary(): "BLOB",
    pa.bool_(): "BOOLEAN",
}


@pytest.fixture(scope="module")
def full_lake(scored_lake: Path, credit_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scored lake with a forged bundle quarantined, a month of in-loan reviews and a day of
    post-loan monitoring with one alert acknowledged: every table of ``lake_tables()`` has rows."""
    from pipelines.ingest import IngestConfig, ingest
    from pipelines.monitor import Catalogue, acknowledge, monitor_day, read_alerts
    from pipelines.review import run as review
    from pipelines.scoring import read_scores
    from pipelines.simulate.tamper import tamper_bundle

    root = tmp_path_factory.mktemp("readers")
    lake = root / "lake"
    shutil.copytree(scored_lake, lake)
    world = credit_world / "world"
    victim = next(iter(sorted((world / "landing").glob("supply_chain/*"))))
    forged = root / "landing" / "supply_chain" / victim.name
    forged.parent.mkdir(parents=True)
    tamper_bundle(victim, forged, "edit-record", world)
    ingest(IngestConfig(str(root / "landing"), str(lake), str(world / "trust.json")))
    settings = lake_settings(lake, world)
    days = sorted({d for d in read_scores(str(lake)).applied_on if d.year == 2025 and d.month == 2})
    review(settings, [d.isoformat() for d in days])
    monitor_day(settings, MONITORED, Catalogue.load())
    first = read_alerts(str(lake)).alert_id.iloc[0]  # the acknowledgement history gets a row
    acknowledge(str(lake), first, "Risk Manager East 1", "called the borrower")
    return lake


def _folders(lake: Path, path: str) -> list[Path]:
    if "<source>" not in path:
        return [lake / path]
    kind = path.rstrip("/").rsplit("/", 1)[1]
    return [lake / "verified" / s / kind for s, kinds in KINDS.items() if kind in kinds]


def test_every_table_reads_with_pyarrow_pandas_and_duckdb(full_lake: Path) -> None:
    for name, table in lake_tables().items():
        for folder in _folders(full_lake, table.path):
            assert folder.exists(), f"{name}: {folder} was not written"
            key = table.partitioned_by
            files = sorted(folder.rglob("*.parquet")) if key else [folder]
            rows = sum(pq.read_metadata(f).num_rows for f in files)
            assert rows > 0, name
            for f in files:  # the partition key is a folder, never a column of the files
                assert key not in pq.read_schema(f).names, f
            arrow = ds.dataset(folder, format="parquet", partitioning="hive" if key else None).to_table()
            assert arrow.num_rows == rows, name
            for field in table.schema:
                assert arrow.schema.field(field.name).type == field.type, (name, field.name)
            if key:
                assert arrow.schema.field(key).type == pa.string(), (name, key)
                assert arrow.schema.names == [*table.schema.names, key], name
            frame = pd.read_parquet(folder)
            assert len(frame) == rows, name
            for field in table.schema:
                if field.type == pa.date32():
                    days = frame[field.name].dropna()  # a calendar day, not a timestamp or text
                    assert all(type(v) is date for v in days), (name, field.name)
            if key:
                filled = {p.parent.name.split("=", 1)[1] for p in files if pq.read_metadata(p).num_rows}
                assert set(frame[key].astype(str)) == filled, name
            glob = f"{folder}/**/*.parquet" if key else str(folder)
            hive = "true" if key else "false"
            duck = duckdb.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = {hive})")
            types = dict(zip(duck.columns, (str(t) for t in duck.types), strict=True))
            expected = {f.name: _DUCK[f.type] for f in table.schema} | ({key: "VARCHAR"} if key else {})
            assert types == expected, name
            assert duck.aggregate("count(*)").fetchall() == [(rows,)], name


def test_a_lake_of_the_old_layout_reads_and_migrates(full_lake: Path, tmp_path: Path) -> None:
    """A lake written when the day was a folder (``applied_on=YYYY-MM-DD/part-0.parquet``)
    still reads through the pipeline's readers, and ``migrate`` moves it to the new layout."""
    from pipelines.review import read_reviews
    from pipelines.scoring import read_scores

    lake = tmp_path / "lake"
    shutil.copytree(full_lake, lake)
    before = read_scores(str(lake)).sort_values("application_id", ignore_index=True)
    reviews = len(read_reviews(str(lake)))
    days = {t.path: len(list((lake / t.path).glob("*=*/day-*.parquet"))) for t in day_partitions.DAY_TABLES}
    assert all(days.values()), days
    for table in day_partitions.DAY_TABLES:
        for f in sorted((lake / table.path).glob("*=*/day-*.parquet")):
            day = date.fromisoformat(f.name[4:14])
            old = Path(table.legacy_uri(str(lake), day))
            old.parent.mkdir(parents=True)
            f.rename(old)
            if not any(f.parent.iterdir()):
                f.parent.rmdir()
    assert not list((lake / "scores" / "pre_loan").glob("applied_month=*"))
    pd.testing.assert_frame_equal(
        read_scores(str(lake)).sort_values("application_id", ignore_index=True), before
    )
    assert len(read_reviews(str(lake))) == reviews
    assert day_partitions.migrate(str(lake)) == days
    assert not list((lake / "scores" / "pre_loan").glob("applied_on=*"))
    frame = pd.read_parquet(lake / "scores" / "pre_loan")
    assert len(frame) == len(before) and all(type(v) is date for v in frame.applied_on)
    assert day_partitions.migrate(str(lake)) == {t.path: 0 for t in day_partitions.DAY_TABLES}
