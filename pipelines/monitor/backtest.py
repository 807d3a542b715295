"""How early the alerts warn: for every loan that defaulted, was a critical alert opened at
least 60 days before the default, and how long before; and how many critical alerts a risk
manager receives per 100 active loans per month (the noise paid for the warning)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipelines.calendar import as_date


def lead_times(alerts: pd.DataFrame, performance: pd.DataFrame, first: date, last: date) -> dict[str, float]:
    """Figures over loans that defaulted between ``first`` + 60 days and ``last`` (the window
    the monitor ran over), and critical alerts opened in it.

    The noise rates are steady-state rates: the first monitored day raises at once every
    condition that arose before the window (loans already past due, leases already gone,
    PDs already high), months of alerts the window's loan-months do not pay for. Those are
    counted apart (``first_run_critical``) and left out of the per-100 rates;
    ``critical_per_100_incl_first_run`` keeps them in. Alerts of the first day still count
    as warnings for the defaults that follow."""
    perf = performance.copy()
    perf["day"] = [as_date(d) for d in perf["month_end"]]
    defaults = perf[perf["status"] == "default"].sort_values("day").drop_duplicates("loan_id")
    defaults = defaults[(defaults["day"] >= first + pd.Timedelta(days=60)) & (defaults["day"] <= last)]
    critical = alerts[alerts["severity"] == "critical"].copy()
    # An escalated alert became critical on its escalation day, not when it opened as a warning.
    critical["since"] = [
        as_date(e) if e is not None and not (isinstance(e, float) and np.isnan(e)) else as_date(o)
        for e, o in zip(critical["escalated_on"], critical["opened_on"], strict=True)
    ]
    first_critical = critical.groupby("loan_id")["since"].min()
    leads = []
    for loan, day in zip(defaults["loan_id"], defaults["day"], strict=True):
        warned = first_critical.get(loan)
        leads.append((day - warned).days if warned is not None and warned <= day else -1)
    lead = np.array(leads, dtype=float)
    active = perf[
        perf["status"].isin(["current", "delinquent"]) & (perf["day"] >= first) & (perf["day"] <= last)
    ]
    loan_months = len(active)
    in_window = critical[(critical["since"] > first) & (critical["since"] <= last)]
    backlog = int((critical["since"] == first).sum())
    opened = [as_date(d) for d in alerts["opened_on"]]
    all_in_window = sum(1 for d in opened if first < d <= last)
    return {
        "defaults": float(len(defaults)),
        "warned_60_days": float(np.mean(lead >= 60)) if len(lead) else float("nan"),
        "warned_at_all": float(np.mean(lead >= 0)) if len(lead) else float("nan"),
        "median_lead_days": float(np.median(lead[lead >= 0])) if (lead >= 0).any() else float("nan"),
        "critical_per_100_loans_month": 100 * len(in_window) / loan_months if loan_months else float("nan"),
        "first_run_critical": float(backlog),
        "critical_per_100_incl_first_run": 100 * (len(in_window) + backlog) / loan_months
        if loan_months
        else float("nan"),
        "all_alerts_per_100_loans_month": 100 * all_in_window / loan_months if loan_months else float("nan"),
    }
