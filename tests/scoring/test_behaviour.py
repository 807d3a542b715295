"""The behaviour model: loan-month labels, out-of-time training, and its use by the monitor."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from models.registry import Registry
from pipelines.monitor import RULES, Catalogue, MonitorError, behaviour_uri, monitor_day, read_alerts
from pipelines.scoring import ScoringError
from pipelines.scoring.behaviour import COLUMNS, HORIZON_MONTHS, loan_months, train_behaviour
from tests.conftest import MODEL_KEYS, lake_settings


@pytest.fixture(scope="module")
def behaviour_lake(scored_lake: Path, credit_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("behaviour") / "lake"
    shutil.copytree(scored_lake, lake)
    train_behaviour(
        str(lake),
        str(credit_world / "world" / "bank"),
        str(lake / "models"),
        min_bads=(5, 3),
        keys=MODEL_KEYS,
    )
    return lake


def test_loan_months_are_labelled_on_the_next_months_only(behaviour_lake: Path, credit_world: Path) -> None:
    bank = credit_world / "world" / "bank"
    rows = loan_months(str(behaviour_lake), str(bank))
    perf = pd.read_parquet(bank / "loan_performance.parquet")
    perf["month_end"] = [date.fromisoformat(str(d)[:10]) for d in perf.month_end]
    assert set(COLUMNS) <= set(rows.columns) and not rows[list(COLUMNS)].isna().any().any()
    assert (rows.months_on_book >= 0).all()
    running = perf[perf.status.isin(["current", "delinquent"])]
    assert set(zip(rows.loan_id, rows.month_end, strict=True)) <= set(
        zip(running.loan_id, running.month_end, strict=True)
    )
    default_on = perf[perf.status == "default"].groupby("loan_id").month_end.min()
    bad = rows[rows.bad == 1]
    assert len(bad) > 0
    for loan, month in zip(bad.loan_id, bad.month_end, strict=True):
        gap = (default_on[loan] - month).days
        assert 0 < gap <= 31 * HORIZON_MONTHS
    last = max(perf.month_end)
    assert not rows[rows.month_end == last].observed.any()  # nothing after the last month end yet


def test_the_behaviour_model_is_registered_out_of_time(behaviour_lake: Path) -> None:
    reg = Registry(str(behaviour_lake / "models"), MODEL_KEYS)
    entry = reg.entry(family="behaviour")
    assert entry["status"] == "champion" and entry["kind"] == "scorecard"
    m = entry["metrics"]
    assert entry["training_window"]["to"] < m["oot_window"][0]
    assert m["auc"] > 0.6
    assert reg.entry(family="pre_loan")["status"] == "champion"  # the pre-loan champion stays
    model = reg.load(family="behaviour").model
    assert set(model.features_) <= set(COLUMNS)


def test_too_few_defaults_for_a_behaviour_model_is_a_clear_error(
    scored_lake: Path, credit_world: Path, tmp_path: Path
) -> None:
    with pytest.raises(ScoringError, match="too few defaults"):
        train_behaviour(
            str(scored_lake),
            str(credit_world / "world" / "bank"),
            str(tmp_path / "models"),
            min_bads=(10**6, 1),
        )
    assert not (tmp_path / "models").exists()


def test_the_monitor_uses_the_behaviour_model_and_its_pd_rule(
    behaviour_lake: Path, credit_world: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(behaviour_lake, lake)
    settings = lake_settings(lake, credit_world / "world")
    catalogue = Catalogue.load()
    low = Catalogue(
        catalogue.haircut,
        {**catalogue.rules, "behaviour_pd": {**catalogue.rules["behaviour_pd"], "threshold": 0.0}},
    )
    day = date(2025, 3, 2)
    summary = monitor_day(settings, day, low)
    scores = pd.read_parquet(behaviour_uri(str(lake), day))
    assert (scores.model_role == "behaviour champion").all() and scores.model_id.str.startswith(
        "behaviour-"
    ).all()
    alerts = read_alerts(str(lake))
    by_pd = alerts[alerts.rule == "behaviour_pd"]
    assert len(by_pd) == summary["active_loans"] > 0  # a threshold of 0 flags every active loan
    assert (by_pd.severity == "critical").all()
    assert all('"pd"' in f for f in by_pd.figures) and all("feature_input_hash" in e for e in by_pd.evidence)

    def pd_rule(threshold: float, clear_below: float) -> Catalogue:
        rule = {**catalogue.rules["behaviour_pd"], "threshold": threshold, "clear_below": clear_below}
        return Catalogue(catalogue.haircut, {**catalogue.rules, "behaviour_pd": rule})

    monitor_day(settings, date(2025, 3, 9), pd_rule(1.0, 0.0))  # none opens, the open ones hold
    held = read_alerts(str(lake)).set_index("alert_id").loc[by_pd.alert_id]
    assert (held.status == "open").all() and (held.updated_on == date(2025, 3, 9)).all()
    monitor_day(settings, date(2025, 3, 16), pd_rule(1.0, 1.0))  # no hysteresis: all clear
    cleared = read_alerts(str(lake)).set_index("alert_id").loc[by_pd.alert_id]
    assert (cleared.status == "resolved").all()
    for rule, clear_below, refusal in (
        ("behaviour_pd", 2.0, "clear_below above its threshold"),
        ("collateral_coverage", 0.5, "cannot have clear_below"),  # fires below its threshold
    ):
        bad = tmp_path / "rules.json"
        doc = json.loads(RULES.read_text())
        doc["rules"] = [{**r, "clear_below": clear_below} if r["rule"] == rule else r for r in doc["rules"]]
        bad.write_text(json.dumps(doc))
        with pytest.raises(MonitorError, match=refusal):
            Catalogue.load(bad)
