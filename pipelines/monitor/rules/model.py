"""Rules on the behaviour model's view of the loan."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines import readable
from pipelines.monitor.rules.registry import Condition, Context, held, rule


def _pd_says(f: dict[str, Any], spec: dict[str, Any]) -> str:
    before = f.get("pd_at_application")
    then = (
        f"; the pre-loan PD (within 12 months) was {readable.percent(before)} at application"
        if before is not None and not pd.isna(before)
        else ""
    )
    return (
        f"Behaviour PD {readable.percent(f['pd'])} within 6 months, "
        f"{held(f['pd'], spec, readable.line)}{then}"
    )


def _points(n: float) -> str:
    return f"{n:.0f}-point"


def _score_says(f: dict[str, Any], spec: dict[str, Any]) -> str:
    return (
        f"Behaviour score {f['score']:.0f}, {readable.count(f['points_down'], 'point')} below the "
        f"{f['score'] + f['points_down']:.0f} at disbursement, a fall {held(f['points_down'], spec, _points)}"
    )


@rule("behaviour_pd", hysteresis=True, says=_pd_says)
def behaviour_pd(row: Any, ctx: Context) -> Condition | None:
    """The behaviour model's probability of default is at least the threshold; only once a
    behaviour model is registered (not on the pre-loan fallback). Evidence: the feature row."""
    if not str(row.model_role).startswith("behaviour"):
        return None
    if not row.behaviour_pd >= ctx.level(row, "behaviour_pd"):
        return None
    figures = {
        "pd": float(row.behaviour_pd),
        "score": float(row.score),
        "pd_at_application": float(row.pd_at_application) if pd.notna(row.pd_at_application) else None,
    }
    return ctx.hit(row, "behaviour_pd", float(row.behaviour_pd), figures, "features")


@rule("score_worsening", hysteresis=True, says=_score_says)
def score_worsening(row: Any, ctx: Context) -> Condition | None:
    """The behaviour score is at least the threshold in points below the score at
    disbursement. Evidence: the feature row."""
    if not pd.notna(row.score_change):
        return None
    fall = -float(row.score_change)
    if not fall >= ctx.level(row, "score_worsening"):
        return None
    return ctx.hit(row, "score_worsening", fall, {"points_down": fall, "score": float(row.score)}, "features")
