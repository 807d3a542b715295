"""The report says what is wrong: models that fail their out-of-time checks are flagged at the
top of the models section and linked to their validation reports; the in-loan table lists the
declined and referred applications first, with their findings, and says how many it leaves out;
a chart of one bar is a sentence."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.challenger import Challenger
from models.registry import Registry
from models.scorecard import Scorecard
from pipelines.model_warnings import model_warnings
from pipelines.report import _bar, models_section, review_table
from pipelines.scoring.training import Sample, validate_and_register
from tests.conftest import MODEL_KEYS
from tests.models.test_scorecard import credit_data


def _shifted(n: int, seed: int, shift: float) -> tuple[pd.DataFrame, np.ndarray]:
    """``credit_data`` whose applicants default as if their log-odds were ``shift`` higher,
    and whose incomes are a third lower: a later, riskier, poorer population."""
    X, _ = credit_data(n, seed)
    X["income"] = X["income"] * 0.67
    logit = -2.2 - 1.1 * (np.log(X["income"].fillna(22000)) - 10) / 0.5 + 2.0 * X["utilisation"] + shift
    y = (np.random.default_rng(seed + 1).random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, np.asarray(y)


@pytest.fixture(scope="module")
def failing_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pre-loan champion trained on one population and validated out of time on a riskier,
    shifted one (it fails calibration and stability), and a challenger trained with every
    feature against a champion restricted to one (the challenger wins)."""
    root = tmp_path_factory.mktemp("failing") / "models"
    X_train, y_train = credit_data(3000, seed=11)
    X_test, y_test = _shifted(1500, seed=12, shift=1.5)
    registry = Registry(str(root), MODEL_KEYS)
    sample = Sample(
        X_train, y_train, X_test, y_test, ("2024-01-01", "2024-12-31"), ("2025-01-01", "2025-06-30")
    )
    card = Scorecard(max_features=1).fit(X_train, y_train)
    validate_and_register(registry, card, card, "pre_loan", "champion", sample, "pre-loan scorecard")
    X_train, X_test = X_train.fillna({"income": 22000.0}), X_test.fillna({"income": 22000.0})
    sample = Sample(X_train, y_train, X_test, y_test, sample.window, sample.oot)
    challenger = Challenger().fit(X_train[["income", "utilisation", "noise"]], y_train)
    validate_and_register(
        registry,
        challenger,
        card,
        "pre_loan",
        "challenger",
        Sample(
            X_train[["income", "utilisation", "noise"]],
            y_train,
            X_test[["income", "utilisation", "noise"]],
            y_test,
            sample.window,
            sample.oot,
        ),
        "pre-loan challenger",
    )
    return root


def test_a_model_that_fails_out_of_time_is_flagged_with_what_it_means(failing_registry: Path) -> None:
    entries = Registry(str(failing_registry)).entries()
    champion = next(e for e in entries if e["status"] == "champion")
    m = champion["metrics"]
    assert m["hosmer_lemeshow_p"] < 0.05 and m["psi_train_vs_oot"] > 0.25 and m["jeffreys_failed_grades"]
    checks = {(w.role, w.check) for w in model_warnings(entries)}
    assert {
        ("pre-loan champion", "hosmer_lemeshow"),
        ("pre-loan champion", "jeffreys"),
        ("pre-loan champion", "psi"),
        ("pre-loan challenger", "challenger"),
    } <= checks
    page = models_section(str(failing_registry), MODEL_KEYS, failing_registry.parent)
    warnings = page[: page.index("<table")]  # at the top of the section, before the models' table
    for check in ("hosmer_lemeshow", "jeffreys", "psi", "challenger"):
        assert f'data-check="{check}"' in warnings, check
    assert "miscalibrated" in warnings and "population has changed" in warnings
    assert f"p = {m['hosmer_lemeshow_p']:.4f}" in warnings
    assert "beats the champion" in warnings
    links = re.findall(r'href="([^"]+)"', page)
    assert sorted(links) == sorted(f"models/reports/{e['model_id']}.html" for e in entries)
    assert all((failing_registry.parent / link).is_file() for link in links)


def test_a_sound_model_gets_no_warning(tmp_path: Path) -> None:
    X, y = credit_data(3000, seed=21)
    X_test, y_test = credit_data(1500, seed=22)
    card = Scorecard().fit(X, y)
    sample = Sample(X, y, X_test, y_test, ("2024-01-01", "2024-12-31"), ("2025-01-01", "2025-06-30"))
    validate_and_register(
        Registry(str(tmp_path / "models"), MODEL_KEYS), card, card, "pre_loan", "champion", sample, "card"
    )
    entries = Registry(str(tmp_path / "models")).entries()
    got = {w.check for w in model_warnings(entries)}
    assert "psi" not in got and "challenger" not in got
    assert entries[0]["metrics"]["top_reason_1"] in card.features_
    assert 0 < entries[0]["metrics"]["top_reason_1_share"] < 1


def _review(i: int, decision: str, day: int, reasons: list[str]) -> dict[str, object]:
    return {
        "application_id": f"APP-{i:03d}",
        "firm_id": f"F{i}",
        "applied_on": date(2025, 3, day),
        "grade": "C",
        "decision": decision,
        "decision_reason": f"rule for {decision}",
        "reasons": reasons,
    }


def test_the_in_loan_table_lists_declined_and_referred_first_with_their_findings() -> None:
    rows = [_review(i, "approve", 1 + i % 28, []) for i in range(40)]
    rows += [_review(100, "refer", 2, ["receivables: invoice INV-9 already offered by APP-001"])]
    rows += [_review(101, "decline", 1, ["collateral: receipt WR-7 pledged to OTHER-BANK"])]
    rows += [_review(102, "refer", 20, ["headcount: fell 40% in 3 months"])]
    page = review_table(pd.DataFrame(rows), limit=10)
    order = re.findall(r"<td>(APP-\d+)</td>", page)
    assert order[:3] == ["APP-101", "APP-102", "APP-100"]  # declined, then referred newest first
    assert len(order) == 10
    assert "pledged to OTHER-BANK" in page and "already offered by APP-001" in page
    caption = re.search(r"<caption>(.*?)</caption>", page)
    assert caption is not None
    assert "10 of 43 applications" in caption.group(1) and "33 not shown" in caption.group(1)
    assert "newest first: all 1 declined, all 2 referred, 7 of 40 approved" in caption.group(1)
    approved = re.findall(r"<td>(\d{4}-\d\d-\d\d)</td><td>C</td><td>approve", page)
    assert approved == sorted(approved, reverse=True)  # then the newest approved


def test_a_chart_of_one_bar_is_a_sentence() -> None:
    one = _bar(pd.Series({"proof_invalid": 1}), "Quarantine by reason", "lines")
    assert "<img" not in one and "Quarantine by reason: proof_invalid (1 line)." in one
    two = _bar(pd.Series({"proof_invalid": 1, "line_invalid": 3}), "Quarantine by reason", "lines")
    assert "<img" in two
