"""Binning of one feature for a scorecard: supervised (tree-based) bins with a minimum share,
missing values in their own bin, categories grouped by bad rate, optional monotonic weight of
evidence (or, on request, one turn: a peak or a valley), and the WoE / IV arithmetic.

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


def _counts(cuts: list[float], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and bads of each bin of ``x`` cut at ``cuts`` (bin i: ``cuts[i-1] <= x < cuts[i]``)."""
    idx = np.searchsorted(np.asarray(cuts), x, side="right")
    n_bins = len(cuts) + 1
    return np.bincount(idx, minlength=n_bins), np.bincount(idx, weights=y, minlength=n_bins).astype(int)


def _merged(keep: list[int], count: np.ndarray, bads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bads of the bins left when only pre-bin boundaries ``keep`` remain (pre-bin
    boundary i lies between pre-bins i and i + 1)."""
    starts = np.asarray([0, *[k + 1 for k in keep]], dtype=np.int64)
    return np.add.reduceat(count, starts), np.add.reduceat(bads, starts)


def _iv(count: np.ndarray, bads: np.ndarray, total_bads: int, total_goods: int) -> float:
    """Information value of bins with these counts (smoothed as the WoE)."""
    pg = (count - bads + SMOOTH) / (total_goods + SMOOTH * len(count))
    pb = (bads + SMOOTH) / (total_bads + SMOOTH * len(count))
    return float(((pg - pb) * np.log(pg / pb)).sum())


def _monotone(keep: list[int], count: np.ndarray, bads: np.ndarray, trend: int) -> list[int]:
    """Drop boundaries, the one with the smallest violation first, until the bad rate moves
    in one direction (``trend``: +1 rising, -1 falling)."""
    while keep:
        c, b = _merged(keep, count, bads)
        step = np.diff(b / np.maximum(c, 1)) * trend
        bad_steps = np.flatnonzero(step < 0)
        if not len(bad_steps):
            break
        worst = bad_steps[np.argmax(step[bad_steps])]
        keep = keep[:worst] + keep[worst + 1 :]
    return keep


def _one_turn(count: np.ndarray, bads: np.ndarray, valley: bool) -> list[int]:
    """Boundaries under which the bad rate falls to its lowest pre-bin and rises after it
    (``valley``), or rises to its highest and falls after it (a peak)."""
    rate = bads / np.maximum(count, 1)
    turn = int(np.argmin(rate) if valley else np.argmax(rate))
    down, up = (-1, 1) if valley else (1, -1)
    before = _monotone(list(range(turn)), count[: turn + 1], bads[: turn + 1], down)
    after = _monotone(list(range(len(count) - turn - 1)), count[turn:], bads[turn:], up)
    return [*before, *[turn + k for k in after]]


def _fewest_loss(
    keep: list[int], count: np.ndarray, bads: np.ndarray, max_bins: int, tb: int, tg: int
) -> list[int]:
    """Drop boundaries, the one whose removal loses the least information value first, until
    at most ``max_bins`` bins remain (merging neighbours keeps a monotonic or one-turn shape)."""
    while len(keep) + 1 > max_bins:
        left = [_iv(*_merged(keep[:i] + keep[i + 1 :], count, bads), tb, tg) for i in range(len(keep))]
        drop = int(np.argmax(left))
        keep = keep[:drop] + keep[drop + 1 :]
    return keep


def _shaped_cuts(
    x: np.ndarray, y: np.ndarray, *, max_bins: int, prebins: int, min_leaf: int, seed: int
) -> list[float]:
    """Cuts of a numeric feature whose bad rate is monotonic or turns once (a peak or a
    valley): up to ``prebins`` tree pre-bins of at least ``min_leaf`` rows are merged into each
    of the four shapes, then down to ``max_bins`` bins; the shape holding the most information
    value wins (optbinning's automatic trend, by enumeration instead of a solver)."""
    cuts = _tree_cuts(x, y, prebins, min_leaf, seed)
    if not cuts:
        return []
    count, bads = _counts(cuts, x, y)
    count, bads = count.astype(float), bads.astype(float)
    tb, tg = int(y.sum()), int(len(y) - y.sum())
    every = list(range(len(cuts)))

    def best(shapes: list[list[int]]) -> list[int]:
        fitted = [_fewest_loss(k, count, bads, max_bins, tb, tg) for k in shapes]
        return max(fitted, key=lambda k: (_iv(*_merged(k, count, bads), tb, tg), -len(k)))

    shapes = [_monotone(every, count, bads, 1), _monotone(every, count, bads, -1)]
    if len(cuts) >= 2:
        shapes += [_one_turn(count, bads, valley=True), _one_turn(count, bads, valley=False)]
    return [cuts[k] for k in best(shapes)]


def bin_numeric(
    name: str,
    values: pd.Series,
    y: np.ndarray,
    *,
    max_bins: int,
    min_share: float,
    monotonic: bool,
    seed: int,
    allow_turn: bool = False,
    prebins: int = 20,
) -> FeatureBins:
    """Bins of a numeric feature: the leaves of a tree of at most ``max_bins`` leaves of at
    least ``min_share`` of the rows. With ``monotonic``, neighbours are merged until the bad
    rate moves in the direction of the rank correlation; with ``allow_turn`` as well, the
    bins come from ``prebins`` pre-bins instead and may turn once (``_shaped_cuts``)."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(x)
    min_leaf = max(1, math.ceil(min_share * len(x)))
    xs, ys = x[~missing], y[~missing]
    if monotonic and allow_turn:
        cuts = _shaped_cuts(xs, ys, max_bins=max_bins, prebins=prebins, min_leaf=min_leaf, seed=seed)
    else:
        cuts = _tree_cuts(xs, ys, max_bins, min_leaf, seed)
        if monotonic and cuts and np.std(ys) > 0:
            # the direction of the rank correlation; bins merged until the bad rate follows it
            rising = np.corrcoef(pd.Series(xs).rank().to_numpy(), ys)[0, 1] > 0
            count, bads = _counts(cuts, xs, ys)
            keep = _monotone(
                list(range(len(cuts))), count.astype(float), bads.astype(float), 1 if rising else -1
            )
            cuts = [cuts[k] for k in keep]
    trend = 0
    count, bads = _counts(cuts, xs, ys)
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
    count, bads = _counts(cuts, x, ys)
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
