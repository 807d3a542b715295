"""Labels, training with out-of-time validation, the registry and the daily score table."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from models.registry import Registry
from pipelines.books import BooksError
from pipelines.features import read_snapshot
from pipelines.scoring import (
    ScoringError,
    features_as_of,
    labels,
    read_bank,
    read_scores,
    score_days,
    train,
)
from tests.airflow_helpers import load_dag, run_dag
from tests.conftest import MODEL_KEYS


def test_labels_need_a_fully_observed_year() -> None:
    apps = pd.DataFrame(
        {
            "application_id": ["a", "b", "c", "d"],
            "loan_id": ["La", "Lb", "Lc", "Ld"],
            "disbursed_on": ["2024-01-10", "2024-01-10", "2024-01-10", "2024-06-10"],
        }
    )
    perf = pd.DataFrame(
        {
            "loan_id": ["La", "La", "Lb", "Lc", "Lc", "Ld"],
            "month_end": ["2024-05-31", "2025-01-31", "2024-06-30", "2025-01-31", "2025-02-28", "2024-12-31"],
            "dpd": [90, 0, 60, 0, 120, 90],
        }
    )
    got = labels(apps, perf).set_index("application_id")
    assert got.loc["a"].bad == 1 and got.loc["b"].bad == 0
    assert got.loc["c"].bad == 0  # 120 dpd after the 12 months: not bad in this window
    assert got.loc["a"].observed and not got.loc["d"].observed  # d's year ends 2025-06-10
    assert features_as_of(date(2024, 6, 1)) == date(2024, 5, 31)
    assert features_as_of(date(2024, 6, 30)) == date(2024, 5, 31)


@pytest.fixture(scope="module")
def trained(credit_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scoring")
    shutil.copytree(credit_world / "lake", root / "lake")
    train(
        str(root / "lake"),
        str(credit_world / "world" / "bank"),
        str(root / "lake" / "models"),
        min_bads=(5, 3),
        keys=MODEL_KEYS,
    )
    return root


def test_training_registers_a_champion_and_a_challenger_with_reports(trained: Path) -> None:
    reg = Registry(str(trained / "lake" / "models"), MODEL_KEYS)
    by_status = {e["status"]: e for e in reg.entries()}
    assert set(by_status) == {"champion", "challenger"}
    champion = by_status["champion"]
    assert champion["kind"] == "scorecard" and by_status["challenger"]["kind"] == "challenger"
    m = champion["metrics"]
    assert 0 <= m["auc"] <= 1 and m["oot_rows"] > 0 and m["train_rows"] > m["oot_rows"]
    assert champion["training_window"]["to"] < m["oot_window"][0]  # out of time
    report = (trained / "lake" / "models" / "reports" / f"{champion['model_id']}.html").read_text()
    assert report.count("data:image/png;base64,") == 5 and "Calibration by grade" in report
    assert reg.load().model.features_


def test_scores_are_written_per_day_and_rewritten_on_rerun(trained: Path, credit_world: Path) -> None:
    bank = str(credit_world / "world" / "bank")
    lake, models = str(trained / "lake"), str(trained / "lake" / "models")
    apps = read_bank(bank, "applications")
    days = sorted({date.fromisoformat(d) for d in apps.applied_on})[-5:]
    first = score_days(lake, bank, models, days, MODEL_KEYS)
    again = score_days(lake, bank, models, days, MODEL_KEYS)
    assert first == again and sum(first.values()) > 0
    scores = read_scores(lake)
    assert len(scores) == sum(first.values()) and scores.application_id.is_unique
    assert ((scores.pd > 0) & (scores.pd < 1)).all() and set(scores.grade) <= set("ABCDEFG")
    assert (scores.as_of < scores.applied_on).all()
    champion = Registry(models).entry()
    assert (scores.model_id == champion["model_id"]).all() and (
        scores.model_sha256 == champion["sha256"]
    ).all()
    row = scores.iloc[0]
    snap = read_snapshot(lake, row.as_of).set_index("firm_id")
    assert row.feature_row_hash == snap.loc[row.firm_id].input_hash
    assert list(scores.columns[:4]) == ["application_id", "firm_id", "applied_on", "as_of"]
    assert {"reason_1", "reason_2", "reason_3", "reason_4"} <= set(scores.columns)
    assert score_days(lake, bank, models, [date(2020, 1, 1)]) == {date(2020, 1, 1): 0}


def test_training_refuses_too_few_defaults(credit_world: Path, tmp_path: Path) -> None:
    shutil.copytree(credit_world / "lake", tmp_path / "lake")
    with pytest.raises(ScoringError, match="too few defaults"):
        train(
            str(tmp_path / "lake"),
            str(credit_world / "world" / "bank"),
            str(tmp_path / "m"),
            min_bads=(500, 5),
        )
    with pytest.raises(BooksError, match="applications table is missing"):
        read_bank(str(tmp_path), "applications")
    with pytest.raises(ScoringError, match="applications table is missing"):  # training fails at once
        train(str(tmp_path / "lake"), str(tmp_path), str(tmp_path / "m"))


@pytest.mark.integration
def test_train_and_score_dags(
    airflow_db: Path, credit_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(credit_world / "lake", tmp_path / "lake")
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("SMECREDIT_BANK_URI", str(credit_world / "world" / "bank"))
    monkeypatch.delenv("SMECREDIT_MODELS_URI", raising=False)
    run_dag(load_dag("train_models"), run_conf={"min_bads_train": 5, "min_bads_oot": 3})
    assert Registry(str(tmp_path / "lake" / "models")).entry()["status"] == "champion"
    run_dag(load_dag("score_pre_loan"), run_conf={"day": "2025-03-01", "through": "2025-04-30"})
    scores = read_scores(str(tmp_path / "lake"))
    apps = read_bank(str(credit_world / "world" / "bank"), "applications")
    wanted = apps[(apps.applied_on >= "2025-03-01") & (apps.applied_on <= "2025-04-30")]
    assert sorted(scores.application_id) == sorted(wanted.application_id)
