"""Rules on the firm's sales."""

from __future__ import annotations

from typing import Any

from pipelines import readable
from pipelines.monitor.rules.registry import Condition, Context, held, rule


def _sales_drop_says(f: dict[str, Any], spec: dict[str, Any]) -> str:
    return (
        f"Sales fell {readable.percent(f['drop'])}: {readable.money_yuan(f['sales_3m'] / 3)} a month over "
        f"the last 3 months against {readable.money_yuan(f['sales_6m'] / 6)} a month over the last 6, "
        f"{held(f['drop'], spec, readable.line)}"
    )


def _no_sales_says(f: dict[str, Any], spec: dict[str, Any]) -> str:
    def days(n: float) -> str:
        return f"{n:.0f}-day"

    return (
        f"No sale invoice for {readable.count(f['days_since_last_sale'], 'day')}, "
        f"{held(float(f['days_since_last_sale']), spec, days)}"
    )


@rule("sales_drop", hysteresis=True, says=_sales_drop_says)
def sales_drop(row: Any, ctx: Context) -> Condition | None:
    """Average monthly sales of the last 3 months fell by at least the threshold (a share)
    against the trailing 6 months. Evidence: the firm's sale invoices."""
    if not row.sales_6m > 0:  # (written so that a missing value never fires)
        return None
    drop = 1 - (row.sales_3m / 3) / (row.sales_6m / 6)
    if not drop >= ctx.level(row, "sales_drop"):
        return None
    figures = {"drop": drop, "sales_3m": row.sales_3m, "sales_6m": row.sales_6m}
    return ctx.hit(row, "sales_drop", drop, figures, "sales")


@rule("no_sales", hysteresis=True, says=_no_sales_says)
def no_sales(row: Any, ctx: Context) -> Condition | None:
    """No sale invoice for at least the threshold in days. Evidence: the firm's sale invoices."""
    if not row.days_since_last_sale >= ctx.level(row, "no_sales"):
        return None
    figures = {"days_since_last_sale": row.days_since_last_sale}
    return ctx.hit(row, "no_sales", row.days_since_last_sale, figures, "sales")
