"""Rules on the firm's sales."""

from __future__ import annotations

from typing import Any

from pipelines.monitor.rules.registry import Condition, Context, rule


@rule("sales_drop", hysteresis=True)
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


@rule("no_sales", hysteresis=True)
def no_sales(row: Any, ctx: Context) -> Condition | None:
    """No sale invoice for at least the threshold in days. Evidence: the firm's sale invoices."""
    if not row.days_since_last_sale >= ctx.level(row, "no_sales"):
        return None
    figures = {"days_since_last_sale": row.days_since_last_sale}
    return ctx.hit(row, "no_sales", row.days_since_last_sale, figures, "sales")
