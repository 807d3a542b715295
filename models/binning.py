"""Binning of one feature for a scorecard: supervised (tree-based) bins with a minimum share,
missing values in their own bin, each special value (``-9999``, ``"not reported"``) in a bin of
its own, categories grouped by bad rate, a bad-rate trend per feature (ascending, descending,
one turn: a peak or a valley, or free), bins set by hand, and the WoE / IV arithmetic.

Weight of evidence follows Siddiqi: ``WoE = ln(share of goods / share of bads)``, so a higher
WoE means lower risk. Every bin's counts are smoothed by a prior centred on the population's
bad rate ``p0`` (Cestnik's m-estimate): each bin starts with ``m`` pseudo-rows, ``m * p0`` of
them bad, where ``m = strength / min(p0, 1 - p0)`` so that ``strength`` pseudo-rows of the
rarer outcome are added (by default one). A bin with no bads or no goods then gets a finite,
shrunk WoE instead of an extreme one, a bin whose bad rate is the population's gets WoE 0, and
a bin no training row fell in (a special value never seen) gets WoE 0: no evidence either way.
The same smoothed bad rate decides the trend and the information value that shape the bins.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

SMOOTH = 0.5  # ranks categories by a smoothed bad rate before they are grouped
MISSING = "(missing)"
OTHER = "(other)"
SPECIAL = "(special)"
TRENDS = ("auto", "ascending", "descending", "peak", "valley")
SHAPES = ("ascending", "descending", "peak", "valley")
Code = float | str


class BinningError(ValueError):
    """Bins that cannot be made as asked (a hand-set cut that breaks a forced trend, ...)."""


@dataclass(frozen=True)
class Prior:
    """The WoE prior of one training sample: ``bads`` and ``goods`` pseudo-rows added to every
    bin, and the sample's totals."""

    bads: float
    goods: float
    total_bads: int
    total_goods: int

    @classmethod
    def of(cls, y: np.ndarray, strength: float) -> Prior:
        total_bads = int(np.sum(y))
        total_goods = int(len(y) - total_bads)
        if total_bads == 0 or total_goods == 0:
            raise ValueError("the sample has one class only; weight of evidence needs goods and bads")
        p0 = total_bads / len(y)
        rows = strength / min(p0, 1 - p0)
        return cls(rows * p0, rows * (1 - p0), total_bads, total_goods)

    def rate(self, count: np.ndarray, bads: np.ndarray) -> np.ndarray:
        """The smoothed bad rate of bins with these counts."""
        return np.asarray((bads + self.bads) / (count + self.bads + self.goods))

    def woe(self, count: np.ndarray, bads: np.ndarray) -> np.ndarray:
        goods = count - bads + self.goods
        return np.asarray(np.log(goods / (bads + self.bads)) - math.log(self.total_goods / self.total_bads))

    def iv(self, count: np.ndarray, bads: np.ndarray) -> np.ndarray:
        share = (count - bads + self.goods) / self.total_goods - (bads + self.bads) / self.total_bads
        return np.asarray(share * self.woe(count, bads))


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
    seen in training goes to the ``(other)`` bin (by default the largest). Then, in this
    order: the missing bin (when training had missing values) and one bin per special value
    (``specials``: value, bin). A missing value when training had none gets WoE 0: no evidence
    either way. ``rule`` is the trend asked for (``"auto"``, a shape, or None: free) and
    ``by_hand`` says whether the ordinary bins were set by the analyst (``user_splits``)."""

    name: str
    kind: str  # "numeric" | "categorical"
    bins: list[Bin]
    edges: list[float] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)
    missing_bin: int | None = None
    trend: int = 0  # +1: bad rate rises with the value, -1: falls, 0: not monotonic / categorical
    specials: list[tuple[Code, int]] = field(default_factory=list)
    rule: str | None = "auto"
    by_hand: bool = False

    @property
    def iv(self) -> float:
        return float(sum(b.iv for b in self.bins))

    @property
    def n_ordinary(self) -> int:
        """The bins that hold ordinary values come first: this many of them."""
        return len(self.bins) - (self.missing_bin is not None) - len(self.specials)

    @property
    def shape(self) -> str:
        """The shape of the ordinary bins' WoE as a bad-rate trend: a shape of ``SHAPES``,
        ``"flat"``, ``"irregular"`` (more than one turn) or, for a categorical feature,
        ``"grouped"``."""
        if self.kind != "numeric":
            return "grouped"
        woe = np.array([b.woe for b in self.bins[: self.n_ordinary]])
        return trend_shape(-woe)

    def index(self, values: pd.Series) -> np.ndarray:
        """The bin of each value; -1 for a value with no bin."""
        n = len(values)
        out = np.full(n, -1, dtype=np.int64)
        if self.kind == "numeric":
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            missing = np.isnan(x)
            out[~missing] = np.searchsorted(np.asarray(self.edges, dtype=float), x[~missing], side="right")
            for code, b in self.specials:
                out[x == float(code)] = b
        else:
            rows, words = factorized(values)
            missing = rows < 0
            unknown = self.categories.get(OTHER, -1)
            lut = np.array([self.categories.get(str(w), unknown) for w in words], dtype=np.int64)
            for code, b in self.specials:
                lut[words == str(code)] = b
            out[~missing] = lut[rows[~missing]]
        if self.missing_bin is not None:
            out[missing] = self.missing_bin
        return out

    def woe(self, values: pd.Series) -> np.ndarray:
        idx = self.index(values)
        table = np.array([b.woe for b in self.bins] + [0.0])
        return np.asarray(table[np.where(idx >= 0, idx, len(self.bins))])

    def recounted(self, values: pd.Series, y: np.ndarray, prior: Prior) -> FeatureBins:
        """The same bins (edges, groups, missing and special bins, labels) with their counts,
        WoE and IV taken from another sample; a value with no bin counts nowhere."""
        idx = self.index(values)
        has = idx >= 0
        count = np.bincount(idx[has], minlength=len(self.bins))
        bads = np.bincount(idx[has], weights=y[has], minlength=len(self.bins)).astype(int)
        bins = [Bin(b.label, int(c), int(k)) for b, c, k in zip(self.bins, count, bads, strict=True)]
        _fill_woe(bins, prior)
        twin = FeatureBins.from_dict(self.to_dict())
        twin.bins = bins
        twin.trend = _trend(prior.rate(count[: self.n_ordinary], bads[: self.n_ordinary]), self.kind)
        return twin

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": self.edges,
            "categories": self.categories,
            "missing_bin": self.missing_bin,
            "trend": self.trend,
            "specials": [[code, b] for code, b in self.specials],
            "rule": self.rule,
            "by_hand": self.by_hand,
            "bins": [
                {"label": b.label, "count": b.count, "bads": b.bads, "woe": b.woe, "iv": b.iv}
                for b in self.bins
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureBins:
        """The bins of ``to_dict`` (also of a card saved before special values and rules)."""
        kind = d["kind"]
        return cls(
            name=d["name"],
            kind=kind,
            bins=[
                Bin(b["label"], int(b["count"]), int(b["bads"]), float(b["woe"]), float(b["iv"]))
                for b in d["bins"]
            ],
            edges=[float(e) for e in d["edges"]],
            categories={str(k): int(v) for k, v in d["categories"].items()},
            missing_bin=None if d["missing_bin"] is None else int(d["missing_bin"]),
            trend=int(d["trend"]),
            specials=[(float(c) if kind == "numeric" else str(c), int(b)) for c, b in d.get("specials", [])],
            rule=d.get("rule", "auto"),
            by_hand=bool(d.get("by_hand", False)),
        )


def trend_shape(rate: np.ndarray, tol: float = 1e-12) -> str:
    """The shape of a sequence of bad rates: one of ``SHAPES``, ``"flat"`` or ``"irregular"``."""
    steps = np.diff(np.asarray(rate, dtype=float))
    steps = steps[np.abs(steps) > tol]
    if not len(steps):
        return "flat"
    signs = np.sign(steps)
    turns = int(np.count_nonzero(np.diff(signs)))
    if turns == 0:
        return "ascending" if signs[0] > 0 else "descending"
    if turns == 1:
        return "peak" if signs[0] > 0 else "valley"
    return "irregular"


def follows(rate: np.ndarray, rule: str | None) -> bool:
    """Whether bad rates ``rate`` keep to the trend ``rule`` (a monotonic sequence is also a
    peak or a valley whose turn lies at an end; a flat one follows every trend)."""
    shape = trend_shape(rate)
    if rule in (None, "auto") or shape == "flat":
        return True
    if rule in ("peak", "valley"):
        return shape in (rule, "ascending", "descending")
    return shape == rule


def _trend(rate: np.ndarray, kind: str) -> int:
    shape = trend_shape(rate) if kind == "numeric" and len(rate) > 1 else "flat"
    return {"ascending": 1, "descending": -1}.get(shape, 0)


def _fill_woe(bins: list[Bin], prior: Prior) -> None:
    count = np.array([b.count for b in bins], dtype=float)
    bads = np.array([b.bads for b in bins], dtype=float)
    for b, w, v in zip(bins, prior.woe(count, bads), prior.iv(count, bads), strict=True):
        b.woe, b.iv = float(w), float(v)


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


def _iv(count: np.ndarray, bads: np.ndarray, prior: Prior) -> float:
    """Information value of bins with these counts (smoothed as the WoE)."""
    return float(prior.iv(count, bads).sum())


def _monotone(keep: list[int], count: np.ndarray, bads: np.ndarray, trend: int, prior: Prior) -> list[int]:
    """Drop boundaries, the one with the smallest violation first, until the smoothed bad rate
    moves in one direction (``trend``: +1 rising, -1 falling)."""
    while keep:
        c, b = _merged(keep, count, bads)
        step = np.diff(prior.rate(c, b)) * trend
        bad_steps = np.flatnonzero(step < 0)
        if not len(bad_steps):
            break
        worst = bad_steps[np.argmax(step[bad_steps])]
        keep = keep[:worst] + keep[worst + 1 :]
    return keep


def _one_turn(count: np.ndarray, bads: np.ndarray, valley: bool, prior: Prior) -> list[int]:
    """Boundaries under which the bad rate falls to its lowest pre-bin and rises after it
    (``valley``), or rises to its highest and falls after it (a peak)."""
    rate = prior.rate(count, bads)
    turn = int(np.argmin(rate) if valley else np.argmax(rate))
    down, up = (-1, 1) if valley else (1, -1)
    before = _monotone(list(range(turn)), count[: turn + 1], bads[: turn + 1], down, prior)
    after = _monotone(list(range(len(count) - turn - 1)), count[turn:], bads[turn:], up, prior)
    return [*before, *[turn + k for k in after]]


def _fewest_loss(
    keep: list[int], count: np.ndarray, bads: np.ndarray, max_bins: int, prior: Prior
) -> list[int]:
    """Drop boundaries, the one whose removal loses the least information value first, until
    at most ``max_bins`` bins remain (merging neighbours keeps a monotonic or one-turn shape)."""
    while len(keep) + 1 > max_bins:
        left = [_iv(*_merged(keep[:i] + keep[i + 1 :], count, bads), prior) for i in range(len(keep))]
        drop = int(np.argmax(left))
        keep = keep[:drop] + keep[drop + 1 :]
    return keep


def _shaped_cuts(
    x: np.ndarray,
    y: np.ndarray,
    shapes: Sequence[str],
    *,
    max_bins: int,
    prebins: int,
    min_leaf: int,
    seed: int,
    prior: Prior,
) -> list[float]:
    """Cuts of a numeric feature whose bad rate has one of ``shapes`` (of ``SHAPES``): up to
    ``prebins`` tree pre-bins of at least ``min_leaf`` rows are merged into each shape, then
    down to ``max_bins`` bins; the shape holding the most information value wins (with all
    four, optbinning's automatic trend, by enumeration instead of a solver)."""
    cuts = _tree_cuts(x, y, prebins, min_leaf, seed)
    if not cuts:
        return []
    count, bads = _counts(cuts, x, y)
    count, bads = count.astype(float), bads.astype(float)
    every = list(range(len(cuts)))
    merged = {
        "ascending": lambda: _monotone(every, count, bads, 1, prior),
        "descending": lambda: _monotone(every, count, bads, -1, prior),
        "valley": lambda: _one_turn(count, bads, True, prior),
        "peak": lambda: _one_turn(count, bads, False, prior),
    }
    turns_possible = len(cuts) >= 2 or len(shapes) == 1
    fitted = [
        _fewest_loss(merged[s](), count, bads, max_bins, prior)
        for s in shapes
        if turns_possible or s in ("ascending", "descending")
    ]
    best = max(fitted, key=lambda k: (_iv(*_merged(k, count, bads), prior), -len(k)))
    return [cuts[k] for k in best]


@dataclass(frozen=True)
class NumericRule:
    """How to bin a numeric feature: the trend asked for (``"auto"``: monotonic in the direction
    of the rank correlation, or under ``allow_turn`` the best of the four shapes; without
    ``monotonic``, ``"auto"`` is free), or the analyst's own ``cuts``."""

    max_bins: int
    min_share: float
    seed: int
    monotonic: bool = True
    allow_turn: bool = False
    prebins: int = 20
    trend: str | None = "auto"
    cuts: tuple[float, ...] | None = None


def _auto_cuts(xs: np.ndarray, ys: np.ndarray, rule: NumericRule, min_leaf: int, prior: Prior) -> list[float]:
    trend = rule.trend
    shaped = {"max_bins": rule.max_bins, "prebins": rule.prebins, "min_leaf": min_leaf, "seed": rule.seed}
    if trend == "auto" and not rule.monotonic:
        trend = None
    if trend == "auto" and rule.allow_turn:
        return _shaped_cuts(xs, ys, SHAPES, prior=prior, **shaped)
    if trend in ("peak", "valley") or (trend in SHAPES and rule.allow_turn):
        return _shaped_cuts(xs, ys, [str(trend)], prior=prior, **shaped)
    cuts = _tree_cuts(xs, ys, rule.max_bins, min_leaf, rule.seed)
    if trend is None or not cuts or np.std(ys) == 0:
        return cuts
    if trend == "auto":
        # the direction of the rank correlation; bins merged until the bad rate follows it
        rising = np.corrcoef(pd.Series(xs).rank().to_numpy(), ys)[0, 1] > 0
        trend = "ascending" if rising else "descending"
    count, bads = _counts(cuts, xs, ys)
    keep = _monotone(
        list(range(len(cuts))),
        count.astype(float),
        bads.astype(float),
        1 if trend == "ascending" else -1,
        prior,
    )
    return [cuts[k] for k in keep]


def _special_bins(
    hits: list[np.ndarray], codes: Sequence[Code], y: np.ndarray, first: int
) -> tuple[list[Bin], list[tuple[Code, int]]]:
    """One bin per special value (``hits``: its rows), numbered from ``first``."""
    labels = [f"{SPECIAL} {code:.15g}" if isinstance(code, float) else f"{SPECIAL} {code}" for code in codes]
    bins = [Bin(lab, int(h.sum()), int(y[h].sum())) for lab, h in zip(labels, hits, strict=True)]
    return bins, [(code, first + i) for i, code in enumerate(codes)]


def bin_numeric(
    name: str,
    values: pd.Series,
    y: np.ndarray,
    rule: NumericRule,
    *,
    prior: Prior,
    specials: Sequence[float] = (),
) -> FeatureBins:
    """Bins of a numeric feature: ``rule.cuts`` as given, or the leaves of a tree of at most
    ``max_bins`` leaves of at least ``min_share`` of the rows, merged until the bad rate keeps
    to ``rule.trend`` (see ``NumericRule``). Missing values and each of ``specials`` get bins of
    their own. Hand-set cuts that break a forced trend raise ``BinningError``."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(x)
    hits = [x == float(code) for code in specials]
    ordinary = ~missing & ~np.logical_or.reduce([np.zeros(len(x), dtype=bool), *hits])
    min_leaf = max(1, math.ceil(rule.min_share * len(x)))
    xs, ys = x[ordinary], y[ordinary]
    cuts = list(rule.cuts) if rule.cuts is not None else _auto_cuts(xs, ys, rule, min_leaf, prior)
    count, bads = _counts(cuts, xs, ys)
    if rule.cuts is not None and not follows(prior.rate(count, bads), rule.trend):
        rates = ", ".join(f"{r:.1%}" for r in prior.rate(count, bads))
        raise BinningError(
            f"feature {name!r}: the user splits {cuts} give smoothed bad rates {rates}, which break the "
            f"trend {rule.trend!r} forced by monotonic_trend; move the cuts or set its trend to None"
        )
    bounds = [-math.inf, *cuts, math.inf]
    labels = [f"[{lo:.6g}, {hi:.6g})" for lo, hi in itertools.pairwise(bounds)]
    bins = [Bin(lab, int(c), int(b)) for lab, c, b in zip(labels, count, bads, strict=True)]
    missing_bin = None
    if missing.any():
        missing_bin = len(bins)
        bins.append(Bin(MISSING, int(missing.sum()), int(y[missing].sum())))
    extra, special_bins = _special_bins(hits, [float(c) for c in specials], y, len(bins))
    bins += extra
    _fill_woe(bins, prior)
    return FeatureBins(
        name,
        "numeric",
        bins,
        edges=cuts,
        missing_bin=missing_bin,
        trend=_trend(prior.rate(count, bads), "numeric"),
        specials=list(special_bins),
        rule=rule.trend,
        by_hand=rule.cuts is not None,
    )


def factorized(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each value's category as text: an index into the sorted distinct texts (-1: missing),
    and those texts. Values are read as ``str(value)``, so ``1`` and ``"1"`` are one category."""
    codes, uniques = pd.factorize(values)
    texts = np.array([str(u) for u in uniques], dtype=object)
    if not len(texts):
        return np.full(len(values), -1, dtype=np.int64), texts
    words, of_unique = np.unique(texts, return_inverse=True)
    return np.where(codes >= 0, of_unique[codes], -1).astype(np.int64), words


def _auto_groups(
    words: np.ndarray, rows: np.ndarray, ys: np.ndarray, *, max_bins: int, min_count: int, seed: int
) -> tuple[list[list[str]], np.ndarray]:
    """Categories (``words[rows]``) grouped by bad rate (a tree on their rank), and each row's
    group."""
    used, row_cat = np.unique(rows, return_inverse=True)
    cats = words[used]
    count = np.bincount(row_cat, minlength=len(cats))
    bads = np.bincount(row_cat, weights=ys, minlength=len(cats))
    # Rare categories are pooled before ranking, so that their noisy bad rates do not split bins.
    rate = (bads + SMOOTH) / (count + 2 * SMOOTH)
    small = count < min_count
    if small.any() and not small.all():
        rate[small] = (bads[small].sum() + SMOOTH) / (count[small].sum() + 2 * SMOOTH)
    # one rank per distinct rate: pooled categories share theirs
    rank = np.searchsorted(np.unique(rate), rate).astype(float)
    x = rank[row_cat]
    cuts = np.asarray(_tree_cuts(x, ys, max_bins, min_count, seed))
    group_of = np.searchsorted(cuts, rank, side="right")
    groups: list[list[str]] = [[] for _ in range(len(cuts) + 1)]
    for cat, g in zip(cats, group_of, strict=True):
        groups[int(g)].append(str(cat))
    return groups, group_of[row_cat]


def _hand_groups(
    name: str, words: np.ndarray, rows: np.ndarray, groups: Sequence[Sequence[str]]
) -> np.ndarray:
    """Each row's group among the analyst's ``groups``; a category in no group is an error
    unless a group holds ``(other)``."""
    where = {cat: i for i, group in enumerate(groups) for cat in group}
    lut = np.array([where.get(str(w), -1) for w in words], dtype=np.int64)
    row = lut[rows] if len(rows) else np.zeros(0, dtype=np.int64)
    if (row < 0).any():
        if OTHER not in where:
            unlisted = sorted(str(w) for w in words[np.unique(rows[row < 0])])
            raise BinningError(
                f"feature {name!r}: categories {unlisted[:10]} are in no group of user_splits; "
                f"list them, or add {OTHER!r} to a group to take every category not listed"
            )
        row[row < 0] = where[OTHER]
    return row


def bin_categorical(
    name: str,
    values: pd.Series,
    y: np.ndarray,
    *,
    max_bins: int,
    min_share: float,
    seed: int,
    prior: Prior,
    groups: Sequence[Sequence[str]] | None = None,
    specials: Sequence[str] = (),
) -> FeatureBins:
    """Bins of a categorical feature: the analyst's ``groups`` as given, or categories ranked
    by bad rate and grouped by a tree (at most ``max_bins`` groups of at least ``min_share`` of
    the rows). Missing values and each of ``specials`` get bins of their own."""
    rows, words = factorized(values)
    missing = rows < 0
    hits = [~missing & np.isin(rows, np.flatnonzero(words == code)) for code in specials]
    ordinary = ~missing & ~np.logical_or.reduce([np.zeros(len(rows), dtype=bool), *hits])
    present, ys = rows[ordinary], y[ordinary]
    if groups is None:
        min_count = max(1, math.ceil(min_share * len(values)))
        made, row = _auto_groups(words, present, ys, max_bins=max_bins, min_count=min_count, seed=seed)
    else:
        made, row = [list(g) for g in groups], _hand_groups(name, words, present, groups)
    count = np.bincount(row, minlength=len(made))
    bads = np.bincount(row, weights=ys, minlength=len(made)).astype(int)
    categories = {cat: i for i, group in enumerate(made) for cat in group}
    seen = {str(w) for w in words[np.unique(present)]}
    for cat in seen - set(categories):  # training categories taken by the (other) group
        categories[cat] = categories[OTHER]
    # unseen categories at scoring time join the (other) group, or else the largest bin
    categories.setdefault(OTHER, int(np.argmax(count)))
    bins = [
        Bin(", ".join(sorted(g)) or "(empty)", int(c), int(b))
        for g, c, b in zip(made, count, bads, strict=True)
    ]
    missing_bin = None
    if missing.any():
        missing_bin = len(bins)
        bins.append(Bin(MISSING, int(missing.sum()), int(y[missing].sum())))
    extra, special_bins = _special_bins(hits, list(specials), y, len(bins))
    bins += extra
    _fill_woe(bins, prior)
    return FeatureBins(
        name,
        "categorical",
        bins,
        categories=categories,
        missing_bin=missing_bin,
        specials=list(special_bins),
        rule=None,
        by_hand=groups is not None,
    )
