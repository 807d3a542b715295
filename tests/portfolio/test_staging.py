"""Stage rules on hand-made loans: each rule, and the precedence between them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.portfolio import Policy, PortfolioError, assign_stages, open_alerts_at

POLICY = Policy.load()


def loans(**overrides: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "status": ["current"],
        "dpd": [0],
        "pd_lifetime": [0.02],
        "pd_lifetime_at_origination": [0.02],
        "behaviour_pd": [0.01],
        "open_alerts": [[]],
    }
    base.update(overrides)
    return pd.DataFrame(base)


@pytest.mark.parametrize(
    ("change", "stage", "reason"),
    [
        ({}, 1, "performing"),
        ({"status": ["default"], "dpd": [90]}, 3, "defaulted"),
        ({"status": ["delinquent"], "dpd": [90]}, 3, "dpd_90"),
        ({"open_alerts": [[("lease_flight", "critical")]]}, 3, "credit_impaired"),
        ({"status": ["delinquent"], "dpd": [60]}, 2, "dpd_30"),
        ({"status": ["delinquent"], "dpd": [30]}, 1, "performing"),  # the backstop is more than 30
        ({"pd_lifetime": [0.10], "pd_lifetime_at_origination": [0.03]}, 2, "sicr"),
        ({"pd_lifetime": [0.03], "pd_lifetime_at_origination": [0.02]}, 1, "performing"),  # +1 point < 2
        ({"pd_lifetime": [0.30], "pd_lifetime_at_origination": [0.25]}, 1, "performing"),  # 1.2x < 1.5x
        ({"behaviour_pd": [0.12]}, 2, "behaviour_pd"),
        ({"behaviour_pd": [float("nan")], "status": ["default"], "dpd": [90]}, 3, "defaulted"),
        ({"open_alerts": [[("behaviour_pd", "critical")]]}, 2, "watch_list"),
        ({"open_alerts": [[("sales_drop", "warning")]]}, 1, "performing"),
        ({"open_alerts": [[("lease_flight", "warning")]]}, 1, "performing"),
    ],
)
def test_each_rule_decides_its_stage(change: dict[str, list[object]], stage: int, reason: str) -> None:
    got_stage, got_reason = assign_stages(loans(**change), POLICY.staging)
    assert (int(got_stage[0]), got_reason[0]) == (stage, reason)


def test_the_first_rule_that_holds_decides() -> None:
    frame = loans(
        status=["default", "delinquent", "delinquent", "current"],
        dpd=[90, 120, 60, 0],
        pd_lifetime=[0.5, 0.5, 0.5, 0.5],
        pd_lifetime_at_origination=[0.01] * 4,
        behaviour_pd=[0.5] * 4,
        open_alerts=[[("lease_flight", "critical")]] * 4,
    )
    stage, reason = assign_stages(frame, POLICY.staging)
    assert list(stage) == [3, 3, 3, 3]
    assert list(reason) == ["defaulted", "dpd_90", "credit_impaired", "credit_impaired"]
    frame["open_alerts"] = [[("behaviour_pd", "critical")]] * 4
    stage, reason = assign_stages(frame, POLICY.staging)
    assert list(reason) == ["defaulted", "dpd_90", "dpd_30", "sicr"]
    reordered = [r for r in POLICY.staging if r["rule"] == "watch_list"] + [
        r for r in POLICY.staging if r["rule"] != "watch_list"
    ]
    stage, reason = assign_stages(frame, reordered)
    assert list(reason) == ["watch_list"] * 4 and list(stage) == [2] * 4


def test_alerts_open_at_a_month_end_with_their_severity_then() -> None:
    alerts = pd.DataFrame(
        {
            "loan_id": ["L1", "L2", "L3", "L4"],
            "rule": ["behaviour_pd", "dpd_31_60", "sales_drop", "lease_flight"],
            "severity": ["critical", "critical", "critical", "critical"],
            "opened_on": [date(2025, 1, 3), date(2025, 1, 3), date(2025, 1, 3), date(2025, 2, 3)],
            "resolved_on": [None, date(2025, 1, 20), None, None],
            "escalated_on": [None, None, date(2025, 2, 10), None],
        }
    )
    got = open_alerts_at(alerts, date(2025, 1, 31))
    assert got == {"L1": [("behaviour_pd", "critical")], "L3": [("sales_drop", "warning")]}


def test_a_bad_policy_is_refused_with_its_reason(tmp_path: Path) -> None:
    text = Path(POLICY.source).read_text()
    bad = tmp_path / "policy.json"
    bad.write_text(text.replace('"rule": "sicr"', '"rule": "vibes"'))
    with pytest.raises(PortfolioError, match="unknown staging rule 'vibes'"):
        Policy.load(bad)
    bad.write_text(text.replace('"weight": 0.5', '"weight": 0.6'))
    with pytest.raises(PortfolioError, match="sum to 1"):
        Policy.load(bad)
    bad.write_text("{")
    with pytest.raises(PortfolioError, match="unreadable"):
        Policy.load(bad)
