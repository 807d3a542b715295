"""Validation metrics for PD models: discrimination, calibration and stability."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import brier_score_loss, roc_auc_score

PSI_EPSILON = 1e-4

# The master scale: a grade per PD band, upper bounds exclusive; the last grade is open-ended.
GRADES: tuple[tuple[str, float], ...] = (
    ("A", 0.005),
    ("B", 0.01),
    ("C", 0.02),
    ("D", 0.04),
    ("E", 0.08),
    ("F", 0.16),
    ("G", 1.01),
)


def grade(pd_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The master-scale grade of each PD."""
    bounds = np.array([b for _, b in GRADES])
    names = np.array([g for g, _ in GRADES], dtype=object)
    idx = np.searchsorted(bounds, np.asarray(pd_values, dtype=float), side="right")
    return np.asarray(names[np.minimum(idx, len(names) - 1)])


def auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p))


def gini(y: np.ndarray, p: np.ndarray) -> float:
    return 2 * auc(y, p) - 1


def ks(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the bads' and goods' PD distributions."""
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    result = stats.ks_2samp(p[y == 1], p[y == 0])
    return float(result.statistic)


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(brier_score_loss(y, p))


def calibration_by_grade(y: np.ndarray, p: np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """Per grade: count, bads, mean PD, observed default rate, the Jeffreys interval of the
    observed rate, and the one-sided Jeffreys test that the PD is not too low (the ECB's
    validation test): p-value = the Beta(bads + 1/2, count - bads + 1/2) CDF at the mean PD;
    ``passed`` when it is at least 1 - level."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    g = grade(p)
    rows = []
    for name, _ in GRADES:
        mask = g == name
        n = int(mask.sum())
        if n == 0:
            continue
        bads = int(y[mask].sum())
        mean_pd = float(p[mask].mean())
        lo, hi = stats.beta.ppf([(1 - level) / 2, (1 + level) / 2], bads + 0.5, n - bads + 0.5)
        p_value = float(stats.beta.cdf(mean_pd, bads + 0.5, n - bads + 0.5))
        rows.append(
            {
                "grade": name,
                "count": n,
                "bads": bads,
                "mean_pd": mean_pd,
                "observed_rate": bads / n,
                "jeffreys_low": float(lo),
                "jeffreys_high": float(hi),
                "p_value": p_value,
                "passed": bool(p_value >= 1 - level),
            }
        )
    return pd.DataFrame(rows)


def hosmer_lemeshow(y: np.ndarray, p: np.ndarray, groups: int = 10) -> tuple[float, float]:
    """Hosmer-Lemeshow statistic over PD deciles and its chi-squared p-value (groups - 2 df)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    chunks = np.array_split(order, groups)
    stat = 0.0
    used = 0
    for idx in chunks:
        if not len(idx):
            continue
        used += 1
        n, obs, exp = len(idx), y[idx].sum(), p[idx].sum()
        denom = exp * (1 - exp / n)
        if denom > 0:
            stat += (obs - exp) ** 2 / denom
    df = max(1, used - 2)
    return float(stat), float(stats.chi2.sf(stat, df))


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of ``actual`` against ``expected`` over ``expected``'s
    quantile bins. Empty bins count as ``epsilon``, so the index is finite; a sample against
    itself gives 0."""
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1))[1:-1])
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=len(edges) + 1)
    return _psi_counts(e, a, epsilon)


def _psi_counts(e: np.ndarray, a: np.ndarray, epsilon: float) -> float:
    pe = np.maximum(e / max(e.sum(), 1), epsilon)
    pa = np.maximum(a / max(a.sum(), 1), epsilon)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def csi(
    expected_bins: np.ndarray, actual_bins: np.ndarray, n_bins: int, epsilon: float = PSI_EPSILON
) -> float:
    """Characteristic stability index of one feature: PSI over its scorecard bins (integer bin
    indices, -1 for a value with no bin, counted as a bin of its own)."""
    e = np.bincount(np.asarray(expected_bins) + 1, minlength=n_bins + 1)
    a = np.bincount(np.asarray(actual_bins) + 1, minlength=n_bins + 1)
    return _psi_counts(e, a, epsilon)


def summary(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The headline figures of a PD on a labelled sample."""
    hl, hl_p = hosmer_lemeshow(y, p)
    return {
        "n": float(len(y)),
        "bads": float(np.sum(y)),
        "auc": auc(y, p),
        "gini": gini(y, p),
        "ks": ks(y, p),
        "brier": brier(y, p),
        "hosmer_lemeshow": hl,
        "hosmer_lemeshow_p": hl_p,
    }
