"""The headcount check."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines.calendar import shift_period
from pipelines.review.checks.base import Case, Check


def _filings(case: Case, frame: pd.DataFrame) -> pd.DataFrame:
    """The applicant's newest filing of each period, oldest period first."""
    rows = case.known(frame)
    rows = rows[rows["firm_id"] == case.firm].sort_values(["period", "height", "index"], kind="stable")
    return rows.drop_duplicates("period", keep="last")


def headcount(case: Case, check: Check) -> None:
    """Is the staff real: did the headcount jump just before applying, and does the housing
    fund see the people the social insurance sees?

    On the chain: the applicant's monthly social-insurance and housing-fund filings of the
    last year. It fails when the social-insurance headcount rose by ``headcount_jump`` or
    more (and by ``headcount_min_rise`` people or more) in the 3 months to the newest
    filing while the housing fund did not rise as much (a jump in both funds is only
    noted); it warns when the housing fund covers less than ``1 - headcount_gap`` of the
    social-insurance headcount in the same month. No filing in the last year is noted.

    Finding: the jump or the gap. Figures: ``si_headcount``, ``period``, ``si_change_3m``,
    ``si_hf_gap``. Evidence: the last four social-insurance filings and the housing-fund
    filing of the same period.
    """
    si, hf = _filings(case, case.view.si), _filings(case, case.view.hf)
    if si.empty:
        check.figures = {"si_headcount": 0}
        check.findings.append("no social-insurance filing in the last year")
        return
    now = si.iloc[-1]
    period = str(now["period"])
    figures: dict[str, Any] = {"si_headcount": int(now["headcount"]), "period": period}
    check.cite(si.tail(4))
    si_change, hf_change = _change(si, period), _change(hf, period)
    jump = float(case.thresholds["headcount_jump"])
    if si_change is not None:
        base, change = si_change
        figures["si_change_3m"] = round(change, 4)
        rise = int(now["headcount"]) - base
        if change >= jump and rise >= int(case.thresholds["headcount_min_rise"]):
            if hf_change is None or change - hf_change[1] >= jump:
                seen = "not" if hf_change is None else f"only {hf_change[1]:.0%}"
                check.worse(
                    "fail",
                    f"social-insurance headcount rose {change:.0%} in 3 months ({base} to "
                    f"{now['headcount']}); the housing fund shows {seen}",
                )
            else:
                check.findings.append(f"headcount rose {change:.0%} in 3 months, in both funds")
    same = hf[hf["period"] == period]
    if not same.empty:
        check.cite(same)
        gap = (int(now["headcount"]) - int(same.iloc[-1]["headcount"])) / max(int(now["headcount"]), 1)
        figures["si_hf_gap"] = round(gap, 4)
        if gap > float(case.thresholds["headcount_gap"]):
            check.worse("warn", f"housing fund covers {1 - gap:.0%} of the social-insurance headcount")
    check.figures = figures


def _change(filings: pd.DataFrame, period: str) -> tuple[int, float] | None:
    """(headcount 3 months before ``period``, relative change since), from the newest filing
    on or before that month; None without one."""
    now = filings[filings["period"] == period]
    before = filings[filings["period"] <= shift_period(period, -3)]
    if now.empty or before.empty:
        return None
    base = int(before.iloc[-1]["headcount"])
    return base, (int(now.iloc[-1]["headcount"]) - base) / max(base, 1)
