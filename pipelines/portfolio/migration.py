"""The PD term structure: a monthly migration matrix between behaviour grades, with default
absorbing, estimated by the cohort method from the loan-month history.

A loan that is behind (30 or 60 days past due) is in a delinquency state instead of its
grade, because roll rates from arrears are much steeper than any grade's hazard; the states
and their priors are in the policy.

Why a Markov chain of grades rather than a survival model: the behaviour grade already folds
the firm's chain evidence and its days past due into one state, the book is a few thousand
loans with a few dozen defaults a year (too few to fit hazards per term and vintage), and a
matrix is what risk managers read and challenge (it is Open Risk's ``transitionMatrix``
cohort estimator). Each row is shrunk towards a prior: ``prior_strength`` pseudo-loan-months
that stay in the grade, except a share equal to the grade's monthly default hazard implied by
its master-scale PD band, so a grade with few loans is still a plausible row. Loans that are
repaid leave the cohort (censored); loans that default move to the absorbing ``default``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.metrics import GRADES

DEFAULT = "default"  # the absorbing state (grade D is a master-scale grade)


def states(grades: Sequence[str], delinquency: Sequence[tuple[str, int, float]] = ()) -> tuple[str, ...]:
    """The chain's states: the grades of current loans, the delinquency states, default."""
    return (*grades, *(d[0] for d in delinquency), DEFAULT)


def state_of(grade: pd.Series, dpd: pd.Series, delinquency: Sequence[tuple[str, int, float]]) -> pd.Series:
    """A running loan's state: its delinquency state (the last whose ``from_dpd`` it reached)
    when behind, else its grade; ``default`` stays."""
    out = grade.astype(object).copy()
    running = (grade != DEFAULT).to_numpy()
    for name, from_dpd, _ in sorted(delinquency, key=lambda d: d[1]):
        out[running & (dpd.to_numpy() >= from_dpd)] = name
    return out


def prior_hazard(
    grades: Sequence[str], delinquency: Sequence[tuple[str, int, float]], horizon_months: int
) -> np.ndarray:
    """The prior monthly default hazard of every state but default."""
    return np.concatenate([grade_hazard(grades, horizon_months), [d[2] for d in delinquency]])


def grade_hazard(grades: Sequence[str], horizon_months: int) -> np.ndarray:
    """Monthly default hazard of each grade: its master-scale PD band's geometric midpoint
    (the behaviour model's PD over ``horizon_months``) spread evenly over the months."""
    out = []
    lower = 0.0
    for name, upper in GRADES:
        if name in grades:
            hi = min(upper, 0.6)
            mid = np.sqrt((lower if lower > 0 else hi / 4) * hi)
            out.append(1 - (1 - mid) ** (1 / horizon_months))
        lower = upper
    return np.asarray(out)


def transition_counts(start: np.ndarray, end: np.ndarray, n_states: int) -> np.ndarray:
    """Counts of (state at one month end -> state at the next) for integer state codes."""
    counts = np.zeros((n_states, n_states))
    np.add.at(counts, (np.asarray(start, dtype=int), np.asarray(end, dtype=int)), 1)
    return counts


def migration_matrix(counts: np.ndarray, prior_hazard: np.ndarray, prior_strength: float) -> np.ndarray:
    """Row-stochastic monthly matrix from ``counts`` (last state = default), each grade's row
    shrunk towards its prior row; the default row is absorbing."""
    n = counts.shape[0]
    prior = np.zeros((n, n))
    for g in range(n - 1):
        prior[g, g] = 1 - prior_hazard[g]
        prior[g, n - 1] = prior_hazard[g]
    rows = counts[: n - 1] + prior_strength * prior[: n - 1]
    matrix = np.zeros((n, n))
    matrix[: n - 1] = rows / rows.sum(axis=1, keepdims=True)
    matrix[n - 1, n - 1] = 1.0
    return matrix


def cumulative_default(matrix: np.ndarray, horizon: int) -> np.ndarray:
    """``out[h, g]``: the probability that a loan in grade ``g`` has defaulted within ``h``
    months, for h = 0..horizon."""
    n = matrix.shape[0]
    out = np.zeros((horizon + 1, n - 1))
    power = np.eye(n)
    for h in range(1, horizon + 1):
        power = power @ matrix
        out[h] = power[: n - 1, n - 1]
    return out


def stressed(cumulative: np.ndarray, multiplier: float) -> np.ndarray:
    """A scenario's cumulative PDs: every month's default hazard scaled by ``multiplier``
    (proportional hazards), so the curve stays within 0-1 and increasing."""
    return np.asarray(1 - (1 - cumulative) ** multiplier)
