"""The ingest DAG end to end under Airflow (dag.test), its rerun, and its failure email."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from pipelines.airflow_edge import without_deadline
from pipelines.simulate import WorldConfig, simulate
from tests.airflow_helpers import load_dag, run_dag

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dagworld")
    simulate(WorldConfig(firms=25, months=2, seed=8), out)
    return out


@pytest.fixture
def env(world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(world / "landing", tmp_path / "landing")
    monkeypatch.setenv("SMECREDIT_LANDING_URI", str(tmp_path / "landing"))
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("SMECREDIT_TRUST_POLICY", str(world / "trust.json"))
    monkeypatch.setenv("SMECREDIT_INGEST_BATCH", "40")
    return tmp_path / "lake"


def _log(lake: Path) -> ds.Dataset:
    return ds.dataset(str(lake / "ingest_log"), format="parquet", partitioning="hive")


def test_dag_ingests_every_bundle_and_a_rerun_adds_nothing(airflow_db: Path, env: Path, world: Path) -> None:
    first = run_dag(load_dag("ingest_attested_records"))
    assert first.get_task_instance("publish").state == "success"
    log = _log(env).to_table().to_pandas()
    assert len(log) == len(list(world.glob("landing/*/*")))
    assert (log.lines == log.verified).all()
    data = {p: p.read_bytes() for p in env.rglob("*.parquet") if "ingest_log" not in str(p)}
    again = run_dag(load_dag("ingest_attested_records"))
    assert again.get_task_instance("publish").state == "skipped"  # no new data, no Asset event
    assert _log(env).count_rows() == len(log)
    assert {p: p.read_bytes() for p in env.rglob("*.parquet") if "ingest_log" not in str(p)} == data


@pytest.fixture
def smtp_sink() -> Iterator[tuple[int, list[str]]]:
    from aiosmtpd.controller import Controller

    received: list[str] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            received.append(envelope.content.decode("utf-8", "replace"))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def test_a_failed_task_is_logged_and_mailed_in_one_line(
    airflow_db: Path, env: Path, smtp_sink, monkeypatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    port, received = smtp_sink
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("SMECREDIT_ALERT_EMAILS", "data-eng@bank.example")
    monkeypatch.setenv("SMECREDIT_TRUST_POLICY", str(tmp_path / "missing-trust.json"))
    dag = without_deadline(load_dag("ingest_attested_records"))
    for t in dag.tasks:
        t.retries = 0
    run = dag.test()
    assert run.state == "failed"
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.1)
    assert received, "no alert email arrived"
    assert "ingest_attested_records.collect" in received[0]
    assert "PolicyError: cannot read trust policy" in received[0]


def test_the_daily_run_has_a_deadline_that_alerts(airflow_db: Path, caplog: pytest.LogCaptureFixture) -> None:
    from pipelines.airflow_edge import deadline_missed

    dag = load_dag("ingest_attested_records")
    alerts = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert len(alerts) == 1
    alert = alerts[0]
    interval = alert.interval if hasattr(alert, "interval") else alert["interval"]
    assert interval.total_seconds() == 30 * 3600
    callback = alert.callback if hasattr(alert, "callback") else alert["callback"]
    assert "pipelines.airflow_edge.deadline_missed" in str(getattr(callback, "path", callback))
    with caplog.at_level("ERROR"):
        deadline_missed(context={}, dag_id="ingest_attested_records", hours=30)
    assert "ingest_attested_records has not finished 30 h after its logical date" in caplog.text
