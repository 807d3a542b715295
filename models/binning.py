"""Binning of one feature for a scorecard: supervised (tree-based) bins with a minimum share,
missing values in their own bin, categories grouped by bad rate, optional monotonic weight of
evidence, and the WoE / IV arithmetic.

Weight of evidence follows Siddiqi: ``WoE = ln(share of goods / share of bads)``, so a higher
WoE means lower risk. Counts are smoothed by 0.5 so that a pure bin has a finite WoE.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

SMOOTH = 0.5
MISSING = "(missing)"
OTHER = "(other)"


@dataclass
class Bin:
    label: str
    count: int
    bads: int
    woe: float = 0.0
    iv: float = 0.0


@dataclass
class FeatureBins:
    """How one feature is binned. Numeric: bin i holds ``edges[i-1] <= x < edges[i]``.
    Categorical: ``categories`` maps each training category to its bin, and a category never
    seen in training goes to the largest bin. A missing value when training had none gets
    WoE 0: no evidence either way."""

    name: str
    kind: str  # "numeric" | "categorical"
    bins: list[Bin]
    edges: list[float] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)
    missing_bin: int | None = None
    trend: int = 0  # +1: bad rate rises with the value, -1: falls, 0: not monotonic / categorical

    @property
    def iv(self) -> float:
        return float(sum(b.iv for b in self.bins))

    def index(self, values: pd.Series) -> np.ndarray:
        """The bin of each value; -1 for a value with no bin."""
        n = len(values)
        out = np.full(n, -1, dtype=np.int64)
        if self.kind == "numeric":
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            missing = np.isnan(x)
            out[~missing] = np.searchsorted(np.asarray(self.edges, dtype=float), x[~missing], side="right")
        else:
            text = values.astype(object)
            missing = text.isna().to_numpy()
            mapped = text.map(self.categories)
            known = mapped.notna().to_numpy() & ~missing
            out[known] = mapped[known].to_numpy(dtype=np.int64)
            if OTHER in self.categories:
                out[~known & ~missing] = self.categories[OTHER]
        if self.missing_bin is not None:
            out[missing] = self.missing_bin
        return out

    def woe(self, values: pd.Series) -> np.ndarray:
        idx = self.index(values)
        table = np.array([b.woe for b in self.bins] + [0.0])
        return np.asarray(table[np.where(idx >= 0, idx, len(self.bins))])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": self.edges,
            "categories": self.categories,
            "missing_bin": self.missing_bin,
            "trend": self.trend,
            "bins": [
                {"label": b.label, "count": b.count, "bads": b.bads, "woe": b.woe, "iv": b.iv}
                for b in self.bins
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureBins:
        return cls(
            name=d["name"],
            kind=d["kind"],
            bins=[
                Bin(b["label"], int(b["count"]), int(b["bads"]), float(b["woe"]), float(b["iv"]))
                for b in d["bins"]
            ],
            edges=[float(e) for e in d["edges"]],
            categories={str(k): int(v) for k, v in d["categories"].items()},
            missing_bin=None if d["missing_bin"] is None else int(d["missing_bin"]),
            trend=int(d["trend"]),
        )


def _fill_woe(bins: list[Bin], total_bads: int, total_goods: int) -> None:
    for b in bins:
        goods = b.count - b.bads
        pg = (goods + SMOOTH) / (total_goods + SMOOTH * len(bins))
        pb = (b.bads + SMOOTH) / (total_bads + SMOOTH * len(bins))
        b.woe = math.log(pg / pb)
        b.iv = (pg - pb) * b.woe


def _tree_cuts(x: np.ndarray, y: np.ndarray, max_bins: int, min_leaf: int, seed: int) -> list[float]:
    if len(x) < 2 * min_leaf or len(np.unique(x)) < 2:
        return []
    tree = DecisionTreeClassifier(max_leaf_nodes=max_bins, min_samples_leaf=min_leaf, random_state=seed)
    tree.fit(x.reshape(-1, 1), y)
    t = tree.tree_
    cuts = sorted({float(v) for v, left in zip(t.threshold, t.children_left, strict=True) if left != -1})
    return cuts


def _counts(idx: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    return np.bincount(idx, minlength=n_bins), np.bincount(idx, weights=y, minlength=n_bins).astype(int)


def _monotone(cuts: list[float], x: np.ndarray, y: np.ndarray, trend: int) -> list[float]:
    """Merge adjacent bins until the bad rate moves in one direction (``trend``)."""
    while cuts:
        idx = np.searchsorted(np.asarray(cuts), x, side="right")
        count, bads = _counts(idx, y, len(cuts) + 1)
        rate = bads / np.maximum(count, 1)
        step = np.diff(rate) * trend
        bad_steps = np.flatnonzero(step < 0)
        if not len(bad_steps):
            break
        # drop the cut with the smallest violation first
        worst = bad_steps[np.argmax(step[bad_steps])]
        cuts = cuts[:worst] + cuts[worst + 1 :]
    return cuts


def bin_numeric(
    name: str,
    values: pd.Series,
    y: np.ndarray,
    *,
    max_bins: int,
    min_share: float,
    monotonic: bool,
    seed: int,
) -> FeatureBins:
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(x)
    min_leaf = max(1, math.ceil(min_share * len(x)))
    xs, ys = x[~missing], y[~missing]
    cuts = _tree_cuts(xs, ys, max_bins, min_leaf, seed)
    trend = 0
    if len(xs) > 2 and np.std(xs) > 0:
        corr = np.corrcoef(pd.Series(xs).rank().to_numpy(), ys)[0, 1] if np.std(ys) > 0 else 0.0
        trend = 1 if corr > 0 else -1
    if monotonic and cuts:
        cuts = _monotone(cuts, xs, ys, trend)
    idx = np.searchsorted(np.asarray(cuts), xs, side="right")
    count, bads = _counts(idx, ys, len(cuts) + 1)
    rate = bads / np.maximum(count, 1)
    steps = np.diff(rate)
    monotone = len(cuts) > 0 and (bool(np.all(steps >= 0)) or bool(np.all(steps <= 0)))
    if len(cuts) > 0:
        trend = (1 if rate[-1] >= rate[0] else -1) if monotone else 0
    labels = []
    bounds = [-math.inf, *cuts, math.inf]
    for lo, hi in itertools.pairwise(bounds):
        labels.append(f"[{lo:.6g}, {hi:.6g})")
    bins = [Bin(lab, int(c), int(b)) for lab, c, b in zip(labels, count, bads, strict=True)]
    missing_bin = None
    if missing.any():
        missing_bin = len(bins)
        bins.append(Bin(MISSING, int(missing.sum()), int(y[missing].sum())))
    _fill_woe(bins, int(y.sum()), int(len(y) - y.sum()))
    return FeatureBins(name, "numeric", bins, edges=cuts, missing_bin=missing_bin, trend=trend)


def bin_categorical(
    name: str, values: pd.Series, y: np.ndarray, *, max_bins: int, min_share: float, seed: int
) -> FeatureBins:
    text = values.astype(object)
    missing = text.isna().to_numpy()
    present = text[~missing].astype(str)
    ys = y[~missing]
    stats = pd.DataFrame({"cat": present.to_numpy(), "y": ys}).groupby("cat")["y"].agg(["count", "sum"])
    min_count = max(1, math.ceil(min_share * len(values)))
    small = stats[stats["count"] < min_count]
    # Rare categories are pooled before ranking, so that their noisy bad rates do not split bins.
    rate = (stats["sum"] + SMOOTH) / (stats["count"] + 2 * SMOOTH)
    if len(small) and len(small) < len(stats):
        pooled = (small["sum"].sum() + SMOOTH) / (small["count"].sum() + 2 * SMOOTH)
        rate[small.index] = pooled
    # one rank per distinct rate: pooled categories share theirs
    levels = np.sort(rate.unique())
    rank = rate.map(pd.Series(np.arange(len(levels)), index=levels))
    x = present.map(rank).to_numpy(dtype=float)
    cuts = _tree_cuts(x, ys, max_bins, min_count, seed)
    groups: dict[int, list[str]] = {}
    categories: dict[str, int] = {}
    for cat, r in rank.items():
        b = int(np.searchsorted(np.asarray(cuts), float(r), side="right"))
        groups.setdefault(b, []).append(str(cat))
        categories[str(cat)] = b
    idx = np.searchsorted(np.asarray(cuts), x, side="right")
    count, bads = _counts(idx, ys, len(cuts) + 1)
    bins = [
        Bin(", ".join(sorted(groups.get(i, []))) or "(empty)", int(count[i]), int(bads[i]))
        for i in range(len(cuts) + 1)
    ]
    # unseen categories at scoring time join the largest bin
    categories[OTHER] = int(np.argmax(count))
    missing_bin = None
    if missing.any():
        missing_bin = len(bins)
        bins.append(Bin(MISSING, int(missing.sum()), int(y[missing].sum())))
    _fill_woe(bins, int(y.sum()), int(len(y) - y.sum()))
    return FeatureBins(name, "categorical", bins, categories=categories, missing_bin=missing_bin)
