"""Rules on social-insurance and housing-fund contributions: arrears and staff leaving."""

from __future__ import annotations

from typing import Any

from pipelines.monitor.rules.registry import Condition, Context, RuleFunction, rule


def _arrears(prefix: str) -> RuleFunction:
    name = f"{prefix}_arrears"

    def arrears(row: Any, ctx: Context) -> Condition | None:
        streak = getattr(row, f"{prefix}_arrears_streak")
        if not streak >= ctx.level(row, name):
            return None
        amount = getattr(row, f"{prefix}_arrears_amount_12m")
        return ctx.hit(row, name, streak, {"months": streak, "arrears_12m": amount}, prefix)

    arrears.__doc__ = (
        f"{prefix} contributions in arrears for at least the threshold in consecutive months. "
        f"Evidence: the firm's {prefix} filings."
    )
    return arrears


si_arrears = rule("si_arrears", hysteresis=True)(_arrears("si"))
hf_arrears = rule("hf_arrears", hysteresis=True)(_arrears("hf"))


@rule("headcount_down", hysteresis=True)
def headcount_down(row: Any, ctx: Context) -> Condition | None:
    """Social-insurance headcount down by at least the threshold (a share) in 3 months.
    Evidence: the firm's social-insurance filings."""
    down = -row.si_headcount_change_3m
    if not down >= ctx.level(row, "headcount_down"):
        return None
    return ctx.hit(row, "headcount_down", down, {"down": down, "headcount": row.si_headcount}, "si")
