"""The workaround for apache/airflow#73428 (``dag.test()`` of a DAG with a deadline alert)
keeps the deadline for the scheduler. ``dag.test()`` of the ingest DAG itself, with its
deadline, runs in the cluster test's in-process reference (tests/integration/in_process.py),
``airflow dags test ingest_attested_records`` from the command line right after it, and the
cluster test sees the deadline missed and its callback run under the scheduler."""

from __future__ import annotations

from pathlib import Path

from tests.airflow_helpers import load_dag


def test_the_ingest_dag_keeps_its_deadline_for_the_scheduler(airflow_db: Path) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    dag = load_dag("ingest_attested_records")
    assert dag.deadline, "the ingest DAG lost its deadline alert"
    assert DagSerialization.to_dict(dag)["dag"]["deadline"], "the serialised DAG has no deadline"
