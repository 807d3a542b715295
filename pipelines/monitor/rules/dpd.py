"""Rules on days past due in the bank's books."""

from __future__ import annotations

from typing import Any

from pipelines.monitor.rules.registry import Condition, Context, RuleFunction, rule


def _dpd(name: str, lo: int, hi: int) -> RuleFunction:
    def past_due(row: Any, ctx: Context) -> Condition | None:
        dpd = int(row.dpd)
        if not lo <= dpd <= hi:
            return None
        return ctx.hit(row, name, float(dpd), {"dpd": dpd, "month_end": str(row.month_end)}, "books")

    past_due.__doc__ = f"Days past due between {lo} and {hi} at the latest month end. Evidence: the books."
    return past_due


dpd_1_30 = rule("dpd_1_30", hysteresis=False)(_dpd("dpd_1_30", 1, 30))
dpd_31_60 = rule("dpd_31_60", hysteresis=False)(_dpd("dpd_31_60", 31, 60))
dpd_61_90 = rule("dpd_61_90", hysteresis=False)(_dpd("dpd_61_90", 61, 90))
