"""The measures of benchmarks/quality.py and the report on a hand-made book: staging
effectiveness three months ahead, the stage 2 share of performing loans, and the back-test
of the 12-month ECL against the loss realised net of recoveries."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipelines.portfolio.book import BankBooks, add_months
from pipelines.portfolio.measures import backtest, staging_effectiveness

START = date(2024, 1, 31)
MONTHS = [add_months(START, k) for k in range(16)]  # 2024-01 .. 2025-04


def month(loan: str, m: date, status: str, balance: int) -> dict[str, object]:
    dpd = 90 if status == "default" else 0
    return {"loan_id": loan, "month_end": m.isoformat(), "status": status, "balance_fen": balance, "dpd": dpd}


def books() -> BankBooks:
    """L1 defaults in 2024-05 owing 1,000 (recovers 300 then 100); L2 defaults in 2025-01
    owing 500 (recovers nothing); L3 is repaid; L4 defaults in 2024-02 (too early to be
    assessed three months before)."""
    perf = [
        *(month("L1", m, "current", 1_000) for m in MONTHS[:4]),
        month("L1", MONTHS[4], "default", 1_000),
        *(month("L2", m, "current", 500) for m in MONTHS[:12]),
        month("L2", MONTHS[12], "default", 500),
        *(month("L3", m, "current", 800) for m in MONTHS[:15]),
        month("L3", MONTHS[15], "repaid", 0),
        month("L4", MONTHS[0], "current", 700),
        month("L4", MONTHS[1], "default", 700),
    ]
    recoveries = pd.DataFrame(
        {
            "loan_id": ["L1", "L1"],
            "month_end": [MONTHS[6].isoformat(), MONTHS[8].isoformat()],
            "amount_fen": [300, 100],
            "source": ["collateral", "unsecured"],
        }
    )
    return BankBooks(pd.DataFrame(), pd.DataFrame(perf), recoveries)


def ecl_rows() -> pd.DataFrame:
    """Every loan at every month end it was on the book, with a stage and a 12-month ECL."""
    rows = []
    for m in MONTHS:
        if m <= MONTHS[4]:
            # L1: stage 1 until 2024-01, stage 2 from 2024-02 (three months before 2024-05)
            rows.append(("L1", m, 3 if m == MONTHS[4] else (2 if m >= MONTHS[1] else 1), 100))
        if m <= MONTHS[12]:
            rows.append(("L2", m, 3 if m == MONTHS[12] else 1, 50))  # never flagged early
        if m < MONTHS[15]:
            rows.append(("L3", m, 2 if m == MONTHS[2] else 1, 10))
        if m <= MONTHS[1]:
            rows.append(("L4", m, 3 if m == MONTHS[1] else 1, 70))
    return pd.DataFrame(rows, columns=["loan_id", "as_of", "stage", "ecl_12m_fen"]).assign(
        stage_reason=lambda f: f["stage"].map({1: "performing", 2: "sicr", 3: "defaulted"})
    )


def test_staging_effectiveness_counts_defaults_assessed_three_months_before() -> None:
    eff = staging_effectiveness(ecl_rows(), books())
    assert eff["defaults_scored"] == 2  # L1 (lead 2024-02) and L2 (lead 2024-10); L4 has no lead month
    assert eff["in_stage_2_or_3_three_months_before"] == pytest.approx(0.5)  # L1 only
    assert eff["ever_in_stage_2_or_3_by_three_months_before"] == pytest.approx(0.5)
    # 2024-02: L1 in stage 2 of L1, L2, L3 (L4 in stage 3 is not performing) -> 1/3
    # 2024-03: L1 and L3 in stage 2 of 3 -> 2/3; 2024-04: L1 of 3 -> 1/3; 2024-01 and the
    # other 11 month ends with a performing loan (to 2025-03) 0
    shares = [0, 1 / 3, 2 / 3, 1 / 3] + [0.0] * 11
    assert eff["stage_2_share_of_performing_mean"] == pytest.approx(sum(shares) / 15)
    assert eff["stage_2_share_of_performing_max"] == pytest.approx(2 / 3)


def test_backtest_nets_recoveries_and_needs_twelve_observed_months() -> None:
    test = backtest(ecl_rows(), books()).set_index("as_of")
    # the books end 2025-04: month ends up to 2024-04 have their next 12 months observed
    assert list(test.index) == MONTHS[:4]
    jan = test.loc[MONTHS[0]]
    # performing at 2024-01: L1, L2, L3, L4 (ECL 100 + 50 + 10 + 70); within 12 months
    # L1 (1,000 - 300 - 100 = 600), L4 (700, nothing recovered) and L2 (2025-01: 500)
    assert jan["ecl_12m_fen"] == 230 and jan["defaults"] == 3
    assert jan["realised_loss_fen"] == 600 + 700 + 500
    assert jan["ratio"] == pytest.approx(230 / 1_800)
    assert jan["loss_recovering_fen"] == 600 + 500  # L1 (window to 2025-05) and L2 still recovering
    feb = test.loc[MONTHS[1]]  # L4 in stage 3: not in the performing book; L2 still within
    assert feb["ecl_12m_fen"] == 160 and feb["realised_loss_fen"] == 1_100
    apr = test.loc[MONTHS[3]]  # 2024-04: L1 (2024-05) and L2 (2025-01) within 12 months
    assert apr["realised_loss_fen"] == 1_100 and apr["defaults"] == 2
