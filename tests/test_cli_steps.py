"""``smecredit train``, ``score``, ``review`` and ``monitor`` write the same tables as the DAGs
``train_models``, ``score_pre_loan``, ``review_in_loan`` and ``monitor_post_loan`` run with the
same params on the same world (one copy of its lake each; timestamps of when a row was
written aside)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from models.registry import Registry
from pipelines.cli import main
from tests.airflow_helpers import load_dag, run_dag
from tests.conftest import MODEL_KEYS

TRAIN = {"min_bads_train": 5, "min_bads_oot": 3}
SCORE = {"day": "2025-03-01", "through": "2025-04-30"}
REVIEW = {"day": "2025-04-01", "through": "2025-04-14"}
MONITOR = {"day": "2025-05-04", "through": "2025-06-29", "every_days": 28}
TABLES = ("scores/pre_loan", "reviews/in_loan", "scores/behaviour", "alerts", "outbox")


def _flags(params: dict[str, Any]) -> list[str]:
    return [a for k, v in params.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def _table(lake: Path, name: str) -> pd.DataFrame:
    """Every file of a lake table, its partition value from the path, rows in a fixed order,
    without the columns that say when a row was written."""
    frames = []
    for path in sorted((lake / name).rglob("*.parquet")):
        frame = pq.read_table(path).to_pandas()
        frame["_file"] = str(path.relative_to(lake))
        frames.append(frame)
    assert frames, f"no {name} table in {lake}"
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.drop(columns=[c for c in frame.columns if c.endswith("_at")])
    is_list = frame.map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any()
    listed = [c for c in frame.columns if is_list[c]]
    frame[listed] = frame[listed].map(lambda v: json.dumps(list(v)) if v is not None else None)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _registry(lake: Path) -> list[dict[str, Any]]:
    keep = ("model_id", "kind", "family", "sha256", "status", "training_window", "metrics")
    entries = Registry(str(lake / "models"), MODEL_KEYS).entries()
    return sorted(({k: e.get(k) for k in keep} for e in entries), key=lambda e: str(e["model_id"]))


@pytest.fixture(scope="module")
def smtp() -> Iterator[int]:
    """A real SMTP server on localhost for the monitor's digests (the demo's sink)."""
    import tempfile

    from pipelines.demo import sinks

    with tempfile.TemporaryDirectory() as folder, sinks(Path(folder)) as (port, _):
        yield port


@pytest.fixture
def world_env(credit_world: Path, smtp: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    def point_at(lake: Path) -> None:
        shutil.copytree(credit_world / "lake", lake)
        monkeypatch.setenv("SMECREDIT_LAKE_URI", str(lake))
        monkeypatch.setenv("SMECREDIT_BANK_URI", str(credit_world / "world" / "bank"))
        monkeypatch.delenv("SMECREDIT_MODELS_URI", raising=False)
        monkeypatch.delenv("SMECREDIT_WEBHOOK_URL", raising=False)
        monkeypatch.setenv("SMECREDIT_DELIVERY_BACKOFF_SECONDS", "0")
        smtp_conn = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": smtp,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "alerts@bank.example"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp_conn))

    return point_at


@pytest.mark.integration
@pytest.mark.timeout(3000)  # four DAGs and four commands; 44 min with the fixture on a loaded machine
def test_the_cli_steps_write_what_the_dags_write(
    airflow_db: Path, world_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_dag, by_cli = tmp_path / "dag-lake", tmp_path / "cli-lake"
    world_env(by_dag)
    for dag_id, conf in (
        ("train_models", TRAIN),
        ("score_pre_loan", SCORE),
        ("review_in_loan", REVIEW),
        ("monitor_post_loan", MONITOR),
    ):
        dag = load_dag(dag_id)
        for task in dag.tasks:
            task.retries = 0
        run_dag(dag, run_conf=conf)

    world_env(by_cli)
    for argv in (
        ["train", *_flags(TRAIN)],
        ["score", *_flags(SCORE)],
        ["review", *_flags(REVIEW)],
        ["monitor", *_flags(MONITOR)],
    ):
        assert main(argv) == 0, capsys.readouterr().err
    said = capsys.readouterr().out
    assert "thin data" in said and "champion" in said and "delivered: " in said

    assert _registry(by_cli) == _registry(by_dag)
    assert {e["status"] for e in _registry(by_cli)} >= {"champion", "challenger"}
    for name in TABLES:
        pd.testing.assert_frame_equal(_table(by_cli, name), _table(by_dag, name), obj=name)
    assert len(_table(by_cli, "scores/pre_loan")) > 0 and len(_table(by_cli, "reviews/in_loan")) > 0
    sent = _table(by_cli, "outbox")
    assert len(sent) > 0 and set(sent.status) == {"sent"}
