"""Rules on days past due in the bank's books."""

from __future__ import annotations

from typing import Any

from pipelines import readable
from pipelines.monitor.rules.registry import Condition, Context, RuleFunction, Sentence, rule


def _dpd_says(lo: int, hi: int) -> Sentence:
    def says(f: dict[str, Any], spec: dict[str, Any]) -> str:
        return (
            f"{readable.count(f['dpd'], 'day')} past due at the {f['month_end']} month end, "
            f"in the {lo}-{hi} day band"
        )

    return says


def _dpd(name: str, lo: int, hi: int) -> RuleFunction:
    def past_due(row: Any, ctx: Context) -> Condition | None:
        dpd = int(row.dpd)
        if not lo <= dpd <= hi:
            return None
        return ctx.hit(row, name, float(dpd), {"dpd": dpd, "month_end": str(row.month_end)}, "books")

    past_due.__doc__ = f"Days past due between {lo} and {hi} at the latest month end. Evidence: the books."
    return past_due


dpd_1_30 = rule("dpd_1_30", hysteresis=False, says=_dpd_says(1, 30))(_dpd("dpd_1_30", 1, 30))
dpd_31_60 = rule("dpd_31_60", hysteresis=False, says=_dpd_says(31, 60))(_dpd("dpd_31_60", 31, 60))
dpd_61_90 = rule("dpd_61_90", hysteresis=False, says=_dpd_says(61, 90))(_dpd("dpd_61_90", 61, 90))
