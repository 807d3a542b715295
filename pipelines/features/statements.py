"""A feature's value said to a person: one sentence per feature of the dictionary
(``catalogue.FEATURES``), and for the behaviour model's loan columns, with the firm's own
figure formatted for reading ("Sales fell 42% over 3 months against the 3 before",
"Social-insurance contributions paid short in 3 of the last 12 months"). The reason codes
of a score use them (``pipelines.scoring.reasons``); ``statement`` is what a CLI or a report
calls for one feature and value."""

from __future__ import annotations

import math
from collections.abc import Callable

from pipelines.features.catalogue import FEATURE_NAMES
from pipelines.readable import money_yuan as cny  # yuan read as "CNY 1,234.00" everywhere


def percent(share: float) -> str:
    """A share as a whole percentage (``42%``), one decimal below 1% (``0.4%``)."""
    pct = share * 100
    return f"{pct:.1f}%" if 0 < abs(pct) < 1 else f"{pct:.0f}%"


def _count(n: float, one: str, many: str) -> str:
    k = round(n)
    return f"{k:,} {one if k == 1 else many}"


def _growth(what: str, months: int) -> Callable[[float], str]:
    """A symmetric growth g = (a - b) / ((a + b) / 2) as the change of a against b."""

    def say(g: float) -> str:
        if g <= -2 + 1e-9:
            return f"{what} stopped: none in the last {months} months, some in the {months} before"
        if g >= 2 - 1e-9:
            return f"{what} started: some in the last {months} months, none in the {months} before"
        change = (2 + g) / (2 - g) - 1
        if abs(change) < 0.005:
            return f"{what} flat over {months} months against the {months} before"
        verb = "rose" if change > 0 else "fell"
        return f"{what} {verb} {percent(abs(change))} over {months} months against the {months} before"

    return say


def _headcount_change(scheme: str, months: int) -> Callable[[float], str]:
    def say(r: float) -> str:
        if abs(r) < 0.005:
            return f"{scheme} headcount unchanged over {months} months"
        verb = "rose" if r > 0 else "fell"
        return f"{scheme} headcount {verb} {percent(abs(r))} over {months} months"

    return say


def _amount(what: str, months: int) -> Callable[[float], str]:
    return lambda v: f"{what} of {cny(v)} in the last {months} months"


def _flag(yes: str, no: str) -> Callable[[float], str]:
    return lambda v: yes if v >= 0.5 else no


def _payroll(prefix: str, scheme: str) -> dict[str, Callable[[float], str]]:
    cap = scheme[0].upper() + scheme[1:]
    return {
        f"{prefix}_headcount": lambda v: (
            f"{_count(v, 'employee', 'employees')} in the newest {scheme} filing"
        ),
        f"{prefix}_headcount_change_3m": _headcount_change(cap, 3),
        f"{prefix}_headcount_change_6m": _headcount_change(cap, 6),
        f"{prefix}_arrears_months_12m": lambda v: (
            f"{cap} contributions paid short in {v:.0f} of the last 12 months"
            if v
            else f"No {scheme} arrears in the last 12 months"
        ),
        f"{prefix}_arrears_amount_12m": lambda v: (
            f"{cap} contributions of {cny(v)} unpaid over the last 12 months"
            if v
            else f"No {scheme} contribution unpaid in the last 12 months"
        ),
        f"{prefix}_arrears_streak": lambda v: (
            f"The newest {_count(v, f'{scheme} filing', f'{scheme} filings')} in arrears"
            if v
            else f"The newest {scheme} filing paid in full"
        ),
        f"{prefix}_continuity_12m": lambda v: f"{cap} filings in {v * 12:.0f} of the last 12 months",
    }


def _gap(v: float) -> str:
    if abs(v) < 0.005:
        return "Social-insurance and housing-fund headcounts agree"
    if v > 0:
        return f"{percent(v)} of the social-insured staff have no housing-fund contribution"
    return f"More staff in the housing fund than in social insurance ({percent(-v)} of the insured headcount)"


def _heads_vs_sales(v: float) -> str:
    points = abs(v) * 100
    if points < 0.5:
        return "Headcount and sales moved together over 3 months"
    if v > 0:
        return f"Headcount grew {points:.0f} points faster than sales over 3 months (symmetric growth)"
    return f"Sales grew {points:.0f} points faster than headcount over 3 months (symmetric growth)"


def _last_sale_days(v: float) -> str:
    return (
        "No sale invoice in the last year"
        if v >= 366
        else f"Last sale invoice {_count(v, 'day', 'days')} ago"
    )


def _last_sale_months(v: float) -> str:
    if v >= 12:
        return "No sale invoice in the last 12 months"
    return "A sale invoice this month" if v < 0.5 else f"Last sale invoice {_count(v, 'month', 'months')} ago"


STATEMENTS: dict[str, Callable[[float], str]] = {
    **{f"sales_{n}m": _amount("Sales", n) for n in (3, 6, 12)},
    **{f"purchases_{n}m": _amount("Purchases", n) for n in (3, 6, 12)},
    "sales_growth_3m": _growth("Sales", 3),
    "sales_growth_6m": _growth("Sales", 6),
    "sales_volatility_12m": lambda v: f"Monthly sales swing by {percent(v)} of their mean over 12 months",
    "customers_12m": lambda v: f"{_count(v, 'customer', 'customers')} in the last 12 months",
    "suppliers_12m": lambda v: f"{_count(v, 'supplier', 'suppliers')} in the last 12 months",
    "customer_hhi_12m": lambda v: (
        f"Sales concentration of {v:.2f} on the Herfindahl index (1 = one customer)"
    ),
    "top_customer_share_12m": lambda v: f"The largest customer takes {percent(v)} of 12 months' sales",
    "dso_days_12m": lambda v: f"Customers pay after {_count(v, 'day', 'days')} on average (12 months)",
    "waybill_match_share_12m": lambda v: f"{percent(v)} of 12 months' sale invoices have an attested waybill",
    "payment_match_share_12m": lambda v: f"{percent(v)} of sale invoices due by now show an attested payment",
    "round_amount_share_12m": lambda v: f"{percent(v)} of sale invoices are round multiples of 10,000 CNY",
    "days_since_last_sale": _last_sale_days,
    "months_since_last_sale": _last_sale_months,
    "receipts_held_value": lambda v: f"Warehouse receipts held worth {cny(v)}",
    "receipts_pledged_value": lambda v: f"Warehouse receipts pledged worth {cny(v)}",
    "receipts_released_value_3m": lambda v: f"Goods worth {cny(v)} released from warehouses in 3 months",
    "receipts_released_value_12m": lambda v: f"Goods worth {cny(v)} released from warehouses in 12 months",
    "receipts_double_pledged": lambda v: (
        f"{_count(v, 'warehouse receipt', 'warehouse receipts')} pledged to a second lender"
        if v
        else "No warehouse receipt pledged twice"
    ),
    "active_leases": lambda v: f"{_count(v, 'active lease', 'active leases')}",
    "months_to_lease_end": lambda v: (
        f"The longest lease ends in {_count(v, 'month', 'months')}" if v else "No active lease"
    ),
    "lease_terminated_3m": _flag(
        "A lease terminated in the last 3 months", "No lease terminated in 3 months"
    ),
    "no_active_lease": _flag("No active lease", "An active lease"),
    **_payroll("si", "social-insurance"),
    **_payroll("hf", "housing-fund"),
    "wage_per_head": lambda v: f"A monthly wage base of {cny(v)} per head",
    "headcount_jump_3m": _flag(
        "Social-insured headcount jumped by 25% or more in 3 months", "No jump in headcount in 3 months"
    ),
    "si_hf_headcount_gap": _gap,
    "sales_per_employee_12m": lambda v: f"Sales of {cny(v)} per insured employee over 12 months",
    "headcount_vs_sales_growth_3m": _heads_vs_sales,
    "history_months_12m": lambda v: f"Attested activity in {v:.0f} of the last 12 months",
    "thin_file": _flag(
        "Thin file: under 6 months of attested history in the last 12", "6 or more months of attested history"
    ),
    # the behaviour model's loan columns
    "dpd": lambda v: f"{_count(v, 'day', 'days')} past due" if v else "Not past due",
    "months_on_book": lambda v: f"{_count(v, 'month', 'months')} since disbursement",
}


def statement(feature: str, value: float | None) -> str:
    """The sentence that states ``feature``'s ``value`` for a person; a missing value says so,
    and a feature without a sentence (a hand-built card's column) is named with its value.

    >>> statement("sales_growth_3m", -0.5325)
    'Sales fell 42% over 3 months against the 3 before'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"No value for {feature.replace('_', ' ')}"
    say = STATEMENTS.get(feature)
    if say is None:
        return f"{feature} = {value:g}"
    return say(float(value))


def missing_statements() -> list[str]:
    """Features of the dictionary without a sentence (a test keeps this empty)."""
    return [n for n in FEATURE_NAMES if n not in STATEMENTS]
