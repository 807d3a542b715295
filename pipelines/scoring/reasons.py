"""Reason codes people can read: per scored row, the features on which it scores the most
points below the average applicant (``Scorecard.reasons``, docs/scorecard.md), each with a
sentence stating the applicant's own figure (``pipelines.features.statements``), where it
stands among the training applicants and the points it costs:

    Sales fell 42% over 3 months against the 3 before (lower than most applicants;
    18 points below the average applicant)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.binning import FeatureBins
from models.scorecard import Scorecard
from pipelines.features.statements import statement


def standing(fb: FeatureBins, bin_index: int) -> str:
    """Where a value in bin ``bin_index`` stands among the training rows: ``higher than most
    applicants`` when its bin lies wholly above the median's bin, ``lower ...`` below it, ``a
    missing value``, ``a special value``; empty for the median's bin and for categories."""
    if bin_index < 0:
        return "a value not seen in training"
    if fb.missing_bin is not None and bin_index == fb.missing_bin:
        return "a missing value"
    if bin_index >= fb.n_ordinary:
        return "a special value"
    if fb.kind != "numeric":
        return ""
    counts = np.array([b.count for b in fb.bins[: fb.n_ordinary]], dtype=float)
    if counts.sum() == 0:
        return ""
    median_bin = int(np.searchsorted(np.cumsum(counts) / counts.sum(), 0.5))
    if bin_index > median_bin:
        return "higher than most applicants"
    return "lower than most applicants" if bin_index < median_bin else ""


def reason_text(feature: str, value: Any, where: str, lost: float) -> str:
    """One reason as a sentence: the statement of ``value``, ``where`` it stands, and the
    points ``lost`` against the average applicant."""
    if isinstance(value, str):  # a category of a hand-built card
        said = f"{feature.replace('_', ' ').capitalize()} is {value}"
    else:
        said = statement(feature, None if value is None or pd.isna(value) else float(value))
    cost = f"{lost:.0f} points below the average applicant"
    return f"{said} ({where}; {cost})" if where else f"{said} ({cost})"


def explain(card: Scorecard, X: pd.DataFrame, n: int) -> pd.DataFrame:
    """``reason_1`` .. ``reason_n`` (``card.reasons``) and ``reason_1_statement`` ..
    ``reason_n_statement``, their sentences (``reason_text``), for every row of ``X``."""
    codes = card.reasons(X, n=n)
    lost = card.points_lost(X)
    out = codes.copy()
    features = card.features_
    bins = {f: card.bins_[f].index(X[f]) for f in features}
    values = {f: X[f].to_numpy() for f in features}
    cost = {f: lost[f].to_numpy() for f in features}
    for k in range(1, n + 1):
        texts: list[str | None] = []
        for i, feature in enumerate(codes[f"reason_{k}"].to_numpy()):
            if not isinstance(feature, str):
                texts.append(None)
                continue
            where = standing(card.bins_[feature], int(bins[feature][i]))
            texts.append(reason_text(feature, values[feature][i], where, float(cost[feature][i])))
        out[f"reason_{k}_statement"] = texts
    return out
