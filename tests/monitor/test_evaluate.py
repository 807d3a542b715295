"""The early-warning figures: lead times to default and the steady-state noise rate."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipelines.monitor.backtest import lead_times


def test_lead_times_count_warnings_and_leave_the_first_runs_backlog_out_of_the_noise() -> None:
    first, last = date(2025, 1, 5), date(2025, 6, 30)
    months = ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31"]
    perf = pd.DataFrame(
        [("A", m, "current") for m in months[:4]]
        + [("A", "2025-05-31", "default")]
        + [("B", m, "current") for m in months[:3]]
        + [("B", "2025-04-30", "default")]
        + [("C", m, "current") for m in months]
        + [("D", m, "delinquent") for m in months[:3]],
        columns=["loan_id", "month_end", "status"],
    )
    alerts = pd.DataFrame(
        {
            "loan_id": ["A", "B", "C", "D", "D"],
            "severity": ["critical", "critical", "critical", "critical", "warning"],
            "opened_on": [date(2025, 3, 1), date(2025, 2, 1), first, date(2025, 2, 10), date(2025, 2, 10)],
            "escalated_on": [None, date(2025, 4, 1), None, None, None],
        }
    )
    figures = lead_times(alerts, perf, first, last)
    loan_months = 4 + 3 + 5 + 3
    assert figures["defaults"] == 2
    assert figures["warned_60_days"] == 0.5  # A 91 days ahead; B critical only 29 days ahead
    assert figures["warned_at_all"] == 1.0
    assert figures["median_lead_days"] == 60
    assert figures["first_run_critical"] == 1  # C's alert on the first day
    assert figures["critical_per_100_loans_month"] == pytest.approx(100 * 3 / loan_months)
    assert figures["critical_per_100_incl_first_run"] == pytest.approx(100 * 4 / loan_months)
    assert figures["all_alerts_per_100_loans_month"] == pytest.approx(100 * 4 / loan_months)
