"""The build_features DAG builds the same snapshots as the CLI, shard by shard."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.features import InputStore, build_snapshot, read_snapshot
from tests.airflow_helpers import load_dag, run_dag


@pytest.mark.integration
def test_dag_builds_a_range_of_months_by_shard(
    airflow_db: Path, sim_lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = sim_lake
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(lake))
    run = run_dag(load_dag("build_features"), run_conf={"as_of": "2024-06-30", "through": "2024-08-31"})
    assert "compact" in {ti.task_id for ti in run.get_task_instances()}
    assert InputStore(str(lake)).refresh([date(2024, 8, 31)], 12) == []  # the store is current
    months = sorted(p.name for p in (lake / "features").iterdir())
    assert months == ["as_of_month=2024-06", "as_of_month=2024-07", "as_of_month=2024-08"]
    by_dag = read_snapshot(str(lake), date(2024, 7, 31))
    build_snapshot(str(lake), date(2024, 7, 31), shards=1)
    pd.testing.assert_frame_equal(by_dag, read_snapshot(str(lake), date(2024, 7, 31)))
