"""Rules on social-insurance and housing-fund contributions: arrears and staff leaving."""

from __future__ import annotations

from typing import Any

from pipelines import readable
from pipelines.monitor.rules.registry import Condition, Context, RuleFunction, Sentence, held, rule

_SOURCE = {"si": "Social-insurance", "hf": "Housing-fund"}


def _months(n: float) -> str:
    return f"{n:.0f}-month"


def _arrears_says(prefix: str) -> Sentence:
    def says(f: dict[str, Any], spec: dict[str, Any]) -> str:
        return (
            f"{_SOURCE[prefix]} contributions in arrears {readable.count(f['months'], 'month')} running, "
            f"{held(float(f['months']), spec, _months)}; "
            f"{readable.money_yuan(f['arrears_12m'])} short over the last 12 months"
        )

    return says


def _headcount_says(f: dict[str, Any], spec: dict[str, Any]) -> str:
    return (
        f"Social-insurance headcount down {readable.percent(f['down'])} in 3 months, to "
        f"{readable.count(f['headcount'], 'insured employee')}, {held(f['down'], spec, readable.line)}"
    )


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


si_arrears = rule("si_arrears", hysteresis=True, says=_arrears_says("si"))(_arrears("si"))
hf_arrears = rule("hf_arrears", hysteresis=True, says=_arrears_says("hf"))(_arrears("hf"))


@rule("headcount_down", hysteresis=True, says=_headcount_says)
def headcount_down(row: Any, ctx: Context) -> Condition | None:
    """Social-insurance headcount down by at least the threshold (a share) in 3 months.
    Evidence: the firm's social-insurance filings."""
    down = -row.si_headcount_change_3m
    if not down >= ctx.level(row, "headcount_down"):
        return None
    return ctx.hit(row, "headcount_down", down, {"down": down, "headcount": row.si_headcount}, "si")
