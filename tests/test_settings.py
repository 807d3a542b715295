"""``Settings`` is the one configuration object: built from ``SMECREDIT_*`` variables, and in
DAG tasks from Airflow Variables of the same names, read when the task runs."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest

from pipelines.config import ENV_NAMES, ConfigError, Settings
from tests.airflow_helpers import load_dag, run_dag
from tests.conftest import ROOT


def test_every_variable_in_the_readme_is_a_setting() -> None:
    readme = (ROOT / "README.md").read_text() + (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"`(SMECREDIT_[A-Z_]+)`", readme))
    assert documented == set(ENV_NAMES)


def test_numbers_are_checked_with_a_one_line_error() -> None:
    s = Settings.from_env({"SMECREDIT_FEATURE_SHARDS": "8", "SMECREDIT_DELIVERY_BACKOFF_SECONDS": "0.5"})
    assert s.feature_shards == 8 and s.delivery_backoff_seconds == 0.5 and s.ingest_batch == 200
    with pytest.raises(ConfigError, match=r"^SMECREDIT_INGEST_BATCH='many' is not a positive whole number$"):
        Settings.from_env({"SMECREDIT_INGEST_BATCH": "many"})
    with pytest.raises(ConfigError, match="SMECREDIT_FEATURE_SHARDS='0'"):
        Settings.from_env({"SMECREDIT_FEATURE_SHARDS": "0"})
    assert Settings.from_env({"SMECREDIT_DELIVERY_BACKOFF_SECONDS": "0"}).delivery_backoff_seconds == 0
    with pytest.raises(ConfigError, match="BACKOFF_SECONDS='-1' is not a number of seconds"):
        Settings.from_env({"SMECREDIT_DELIVERY_BACKOFF_SECONDS": "-1"})


def test_the_webhook_key_stays_out_of_logs() -> None:
    assert "hook-secret" not in repr(Settings.from_env({"SMECREDIT_WEBHOOK_KEY": "hook-secret"}))


@pytest.mark.parametrize("path", sorted((ROOT / "dags").glob("*.py")), ids=lambda p: p.name)
def test_dags_read_no_environment(path: Path) -> None:
    """Configuration reaches tasks through ``pipelines.airflow_edge.settings()`` only."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            assert not (isinstance(node.value, ast.Name) and node.value.id == "os"), f"{path.name} uses os"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert "os" not in names and "pipelines.config" not in names, f"{path.name} imports {names}"


@pytest.mark.integration
def test_an_airflow_variable_moves_the_healthcheck_to_its_lake(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path / "env-lake"))
    monkeypatch.setenv("AIRFLOW_VAR_SMECREDIT_LAKE_URI", str(tmp_path / "variable-lake"))
    run_dag(load_dag("healthcheck"))
    assert (tmp_path / "variable-lake" / "_healthcheck").is_dir()
    assert not (tmp_path / "env-lake").exists()


@pytest.mark.integration
def test_an_airflow_variable_chooses_the_monitor_rules(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The monitor task loads the catalogue the Variable names, not the environment's: both
    name files that do not exist, and the task's failure names the Variable's."""
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("SMECREDIT_MONITOR_RULES", str(tmp_path / "env-rules.json"))
    monkeypatch.setenv("AIRFLOW_VAR_SMECREDIT_MONITOR_RULES", str(tmp_path / "variable-rules.json"))
    dag = load_dag("monitor_post_loan")
    for task in dag.tasks:
        task.retries = 0  # the DAG's real retry delay would make the test wait minutes
    with caplog.at_level(logging.ERROR, logger="pipelines.airflow_edge"):
        run = dag.test(run_conf={"day": "2025-01-05"})
    assert run.state == "failed"
    failed = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert failed["monitor"] == "failed", failed
    assert f"monitor rules {tmp_path / 'variable-rules.json'} are unreadable" in caplog.text
    assert "env-rules.json" not in caplog.text
