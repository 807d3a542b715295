"""The trade-authenticity check."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from pipelines.review.checks.base import Case, Check


def sales_12m(case: Case) -> pd.DataFrame:
    """The applicant's sale invoices issued in the 365 days up to the application day."""
    inv = case.known(case.view.invoices)
    start = case.day - timedelta(days=365)
    return inv[(inv["seller"] == case.firm) & (inv["issued_on"] > start) & (inv["issued_on"] <= case.day)]


def trade_authenticity(case: Case, check: Check) -> None:
    """Is the applicant's trade backed by goods moving?

    On the chain: the applicant's sale invoices of the last 12 months and its waybills.
    The share of sales older than ``waybill_grace_days`` without a waybill fails above
    ``unmatched_sales_fail`` and warns above ``unmatched_sales_warn``; the share of sales in
    whole multiples of ``ring_round_fen`` (round amounts, typical of invented trade) warns
    above ``round_amount_warn``.

    Finding: the shares that are too high. Figures: ``sales_12m``,
    ``without_waybill_share``, ``round_amount_share``. Evidence: the invoices without a
    waybill and the round-amount invoices.
    """
    sales = sales_12m(case)
    t = case.thresholds
    mature = sales[sales["issued_on"] <= case.day - timedelta(days=int(t["waybill_grace_days"]))]
    bills = case.known(case.view.waybills)
    billed = mature["invoice_no"].isin(bills.loc[bills["seller"] == case.firm, "invoice_no"])
    unmatched = mature[~billed.to_numpy()]
    share = len(unmatched) / len(mature) if len(mature) else 0.0
    rounded = sales[sales["amount_fen"] % int(t["ring_round_fen"]) == 0]
    round_share = len(rounded) / len(sales) if len(sales) else 0.0
    check.figures = {
        "sales_12m": len(sales),
        "without_waybill_share": round(share, 4),
        "round_amount_share": round(round_share, 4),
    }
    check.cite(unmatched)
    check.cite(rounded)
    if share > float(t["unmatched_sales_fail"]):
        check.worse("fail", f"{share:.0%} of the last year's sales have no waybill")
    elif share > float(t["unmatched_sales_warn"]):
        check.worse("warn", f"{share:.0%} of the last year's sales have no waybill")
    if round_share > float(t["round_amount_warn"]):
        check.worse("warn", f"{round_share:.0%} of the last year's sales are round amounts")
