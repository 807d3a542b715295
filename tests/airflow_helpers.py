"""Run a DAG in-process and fail loudly: ``dag.test()`` returns a run, it does not raise."""

from __future__ import annotations

from typing import Any

from pipelines.airflow_edge import without_deadline


def run_dag(dag: Any, **kwargs: Any) -> Any:
    """Run ``dag`` with ``dag.test()`` and assert the run succeeded; return the run."""
    run = without_deadline(dag).test(**kwargs)
    assert run is not None, f"dag.test() of {dag.dag_id} returned no run"
    failed = [ti.task_id for ti in run.get_task_instances() if ti.state != "success"]
    assert run.state == "success", f"{dag.dag_id} ended {run.state}; tasks not successful: {failed}"
    return run


def load_dag(dag_id: str) -> Any:
    """Load one DAG from the project's DAG folder."""
    import os

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)
