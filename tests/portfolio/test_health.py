"""PSI and the Jeffreys test on known cases, as model health uses them, and the breach
message to the model owner queued once."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models import metrics
from pipelines.monitor.outbox import Outbox
from pipelines.portfolio import MONITORING_SCHEMA, Policy, notify_breaches
from pipelines.portfolio.health import breach_line, calibration, min_stability_count, pooled_months

POLICY = Policy.load()
ENTRY = {"family": "pre_loan", "model_id": "pre_loan-scorecard-x"}


def test_psi_of_known_distributions() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 20_000)
    assert metrics.psi(base, base) == 0
    # two bins of the expected sample, shares 50/50 against 80/20: (0.3 ln 1.6) + (-0.3 ln 0.4)
    expected = np.array([0.0] * 50 + [1.0] * 50)
    actual = np.array([0.0] * 80 + [1.0] * 20)
    assert metrics.psi(expected, actual, bins=2) == pytest.approx(0.3 * np.log(1.6) + 0.3 * np.log(2.5))
    assert metrics.psi(base, rng.normal(1, 1, 20_000)) > 0.25


def test_a_small_sample_passes_the_psi_breach_by_chance_and_the_minimum_count_stops_it() -> None:
    """With no shift at all, the share of samples whose PSI passes 0.25 (the figures the
    policy's minimum count rests on)."""
    rng = np.random.default_rng(0)
    dev = rng.beta(2, 8, 3000)

    def passing(n: int) -> float:
        return float(np.mean([metrics.psi(dev, rng.beta(2, 8, n)) > 0.25 for _ in range(500)]))

    assert passing(34) > 0.4  # a month of the demo's applications: most months would breach
    assert passing(min_stability_count(POLICY)) < 0.03


def test_months_are_pooled_until_the_sample_is_large_enough() -> None:
    months = pd.Series(["2025-01"] * 60 + ["2025-02"] * 30 + ["2025-03"] * 40 + ["2025-04"] * 120)
    assert pooled_months(months, date(2025, 4, 30), 100, 6) == 1
    assert pooled_months(months, date(2025, 3, 31), 100, 6) == 3  # 40 + 30 + 60
    assert pooled_months(months, date(2025, 3, 31), 100, 2) == 2  # at most two months
    assert pooled_months(months, date(2024, 12, 31), 100, 6) == 6  # no rows: the most months


def test_jeffreys_calibration_flags_a_grade_whose_pd_is_too_low() -> None:
    # grade E (PD 4-8%): 100 loans at PD 5%, 12 defaults: p = Beta(12.5, 88.5) CDF at 0.05
    p = np.full(100, 0.05)
    y = np.zeros(100)
    y[:12] = 1
    rows = calibration(date(2025, 6, 30), ENTRY, y, p, POLICY)
    [row] = rows
    expected = stats.beta.cdf(0.05, 12.5, 88.5)
    assert row["subject"] == "E" and row["value"] == pytest.approx(expected) and expected < 0.05
    assert row["breach"] and json.loads(row["detail"])["bads"] == 12
    y[:] = 0
    y[:5] = 1
    [ok] = calibration(date(2025, 6, 30), ENTRY, y, p, POLICY)
    assert not ok["breach"]
    small = calibration(date(2025, 6, 30), ENTRY, np.ones(5), np.full(5, 0.05), POLICY)
    assert small[0]["value"] < 0.05 and not small[0]["breach"]  # 5 rows: too few to test


def test_breaches_become_one_message_to_the_model_owner(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        [
            {
                "as_of": date(2025, 6, 30),
                "family": "pre_loan",
                "model_id": "m1",
                "metric": "psi",
                "subject": "pd",
                "value": 0.4,
                "threshold": 0.25,
                "breach": True,
                "n": 300,
                "detail": "{}",
            },
            {
                "as_of": date(2025, 6, 30),
                "family": "pre_loan",
                "model_id": "m1",
                "metric": "csi",
                "subject": "x",
                "value": 0.05,
                "threshold": 0.25,
                "breach": False,
                "n": 300,
                "detail": "{}",
            },
        ],
        columns=MONITORING_SCHEMA.names,
    )
    assert notify_breaches(str(tmp_path), POLICY, rows, date(2025, 6, 30)) == 1
    assert notify_breaches(str(tmp_path), POLICY, rows, date(2025, 6, 30)) == 0  # a rerun adds nothing
    [message] = Outbox(str(tmp_path)).read().to_dict("records")
    assert message["recipient"] == POLICY.monitoring["owner"]["email"] and message["alert_ids"].tolist() == [
        "psi:pd"
    ]
    assert "- PSI of the score: 0.400, above 0.25 (300 rows over 1 month)\n" in message["body"]
    assert message["status"] == "pending"
    calibration_line = breach_line(
        "calibration", "C", 0.0414, 0.05, 71, '{"bads": 3, "observed_rate": 0.0423, "mean_pd": 0.0144}'
    )
    assert calibration_line == (
        "- Calibration (Jeffreys p-value), grade C: 0.041, below 0.05; 71 matured rows, 3 defaults: "
        "observed 4.23% against a mean PD of 1.44%"
    )
    pooled = breach_line("csi", "sales_growth_6m", 3.667, 0.25, 126, '{"months": 4, "tested": true}')
    assert pooled == "- CSI of a feature sales growth 6m: 3.667, above 0.25 (126 rows over 4 months)"
