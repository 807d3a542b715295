"""Every DAG file imports cleanly, is described, and keeps heavy imports out of parse time."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from tests.airflow_helpers import load_dag, run_dag
from tests.conftest import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
HEAVY = {"pandas", "sklearn", "great_expectations", "pyarrow", "scipy", "matplotlib"}


@pytest.fixture(scope="module")
def dagbag(airflow_db: Path):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def test_dag_folder_is_not_empty() -> None:
    assert DAG_FILES, "no DAG files under dags/"


def test_dags_import_without_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= len(DAG_FILES)


def test_every_dag_is_described(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.description, f"{dag_id} has no description"
        assert dag.default_args.get("owner") not in (None, "airflow"), f"{dag_id} has no owner"
        assert dag.default_args.get("retries", 0) >= 1, f"{dag_id} has no retries"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_no_heavy_imports_at_top_level(path: Path) -> None:
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module.split(".")[0])
    assert not top & HEAVY, f"{path.name} imports {top & HEAVY} at parse time"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_no_variable_or_connection_lookup_at_parse_time(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        for sub in ast.walk(node):
            if isinstance(sub, ast.FunctionDef):
                break
            if isinstance(sub, ast.Attribute) and sub.attr in {"get_connection", "get"}:
                owner = sub.value
                assert not (isinstance(owner, ast.Name) and owner.id in {"Variable", "BaseHook"}), path.name


@pytest.mark.integration
def test_healthcheck_dag_writes_to_the_lake(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path / "lake"))
    run_dag(load_dag("healthcheck"))
    assert (tmp_path / "lake" / "_healthcheck").is_dir()
    assert list((tmp_path / "lake" / "_healthcheck").iterdir()) == []


@pytest.mark.integration
def test_healthcheck_dag_fails_on_an_unwritable_lake(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(blocker / "lake"))
    dag = load_dag("healthcheck")
    for task in dag.tasks:
        task.retries = 0  # the DAG's real retry delay would make the test wait minutes
    run = dag.test()
    assert run.state == "failed"


EXPECTED_DAGS = {
    "healthcheck",
    "ingest_attested_records",
    "build_features",
    "train_models",
    "score_pre_loan",
    "review_in_loan",
    "monitor_post_loan",
    "assess_portfolio",
    "dispose_defaults",
}


def test_every_dag_serialises_for_the_scheduler_and_web_ui(dagbag) -> None:  # type: ignore[no-untyped-def]
    """What `airflow standalone` does with each DAG file: serialise it and read it back."""
    from airflow.serialization.serialized_objects import DagSerialization

    assert set(dagbag.dags) == EXPECTED_DAGS
    for dag_id, dag in dagbag.dags.items():
        data = DagSerialization.to_dict(dag)
        back = DagSerialization.from_dict(data)
        assert back.dag_id == dag_id
        assert {t.task_id for t in back.tasks} == {t.task_id for t in dag.tasks}, dag_id


def test_every_dag_has_an_owner_retries_one_active_run_and_a_failure_callback(dagbag) -> None:  # type: ignore[no-untyped-def]
    """What the README promises of every DAG; the cluster test sees the retries and callbacks
    work under the scheduler (tests/integration/test_cluster.py)."""
    from pipelines.airflow_edge import task_failure_alert

    for dag_id, dag in dagbag.dags.items():
        assert dag.max_active_runs == 1, dag_id
        for task in dag.tasks:
            assert task.owner != "airflow", (dag_id, task.task_id)
            assert task.retries >= 1, (dag_id, task.task_id)
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert task_failure_alert in callbacks, (dag_id, task.task_id)
