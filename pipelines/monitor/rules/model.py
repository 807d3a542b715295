"""Rules on the behaviour model's view of the loan."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines.monitor.rules.registry import Condition, Context, rule


@rule("behaviour_pd", hysteresis=True)
def behaviour_pd(row: Any, ctx: Context) -> Condition | None:
    """The behaviour model's probability of default is at least the threshold; only once a
    behaviour model is registered (not on the pre-loan fallback). Evidence: the feature row."""
    if not str(row.model_role).startswith("behaviour"):
        return None
    if not row.behaviour_pd >= ctx.level(row, "behaviour_pd"):
        return None
    figures = {"pd": float(row.behaviour_pd), "score": float(row.score)}
    return ctx.hit(row, "behaviour_pd", float(row.behaviour_pd), figures, "features")


@rule("score_worsening", hysteresis=True)
def score_worsening(row: Any, ctx: Context) -> Condition | None:
    """The behaviour score is at least the threshold in points below the score at
    disbursement. Evidence: the feature row."""
    if not pd.notna(row.score_change):
        return None
    fall = -float(row.score_change)
    if not fall >= ctx.level(row, "score_worsening"):
        return None
    return ctx.hit(row, "score_worsening", fall, {"points_down": fall, "score": float(row.score)}, "features")
