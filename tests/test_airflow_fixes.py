"""The workaround for apache/airflow#73428: ``dag.test()`` of a DAG with a deadline alert."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.airflow_helpers import load_dag


def test_the_ingest_dag_keeps_its_deadline_for_the_scheduler(airflow_db: Path) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    dag = load_dag("ingest_attested_records")
    assert dag.deadline, "the ingest DAG lost its deadline alert"
    assert DagSerialization.to_dict(dag)["dag"]["deadline"], "the serialised DAG has no deadline"


@pytest.mark.integration
def test_dag_test_of_the_ingest_dag_succeeds_and_keeps_its_deadline(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.simulate import WorldConfig, simulate

    simulate(WorldConfig(firms=5, months=1, seed=3), tmp_path / "world")
    monkeypatch.setenv("SMECREDIT_LANDING_URI", str(tmp_path / "world" / "landing"))
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("SMECREDIT_TRUST_POLICY", str(tmp_path / "world" / "trust.json"))
    dag = load_dag("ingest_attested_records")
    kept = dag.deadline
    # Without pipelines.airflow_fixes, Airflow 3.3.2 raises here, after the run succeeded:
    # AttributeError: 'dict' object has no attribute 'hex' (apache/airflow#73428).
    run = dag.test()
    assert run.state == "success"
    assert dag.deadline == kept
