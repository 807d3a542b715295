"""A points scorecard a credit committee can read line by line, as a scikit-learn estimator.

fit: bin every feature (``models.binning``; numeric bins monotonic by default, or with one
turn under ``allow_turn`` when that holds more information value), keep those with
information value of at least ``iv_threshold``, drop one of any pair whose WoE correlate
above ``max_correlation`` (the weaker), fit a logistic regression on WoE, and drop features
whose weight has the wrong sign (more evidence of good must not raise the PD) until none is
left. Scaling: ``score = offset + factor * ln(odds of good)``, ``factor = pdo / ln 2``,
``offset = base_score - factor * ln(base_odds)``; so ``base_score`` points mean odds of
``base_odds`` to 1 and every ``pdo`` points double the odds. Each bin's points are its share
of that sum, the intercept spread evenly over the selected features. ``to_json`` is the
artifact; nothing is pickled.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from models.binning import FeatureBins, bin_categorical, bin_numeric

FORMAT = "smecredit-scorecard/1"


def as_frame(X: Any) -> pd.DataFrame:
    """``X`` as a data frame (arrays get columns ``x0, x1, ...``)."""
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D table of features, got shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s)) and not pd.api.types.is_bool_dtype(s)


class Scorecard(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Binned, WoE-based logistic scorecard for a binary target (1 = bad)."""

    def __init__(
        self,
        *,
        max_bins: int = 6,
        min_bin_share: float = 0.05,
        monotonic: bool = True,
        allow_turn: bool = False,
        prebins: int = 20,
        iv_threshold: float = 0.02,
        max_correlation: float = 0.7,
        max_features: int | None = None,
        C: float = 1.0,
        pdo: float = 20.0,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        random_state: int = 0,
    ) -> None:
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.monotonic = monotonic
        self.allow_turn = allow_turn
        self.prebins = prebins
        self.iv_threshold = iv_threshold
        self.max_correlation = max_correlation
        self.max_features = max_features
        self.C = C
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> Scorecard:
        frame = as_frame(X)
        target = np.asarray(y, dtype=float)
        if len(frame) != len(target):
            raise ValueError(f"X has {len(frame)} rows but y has {len(target)}")
        if not np.isin(target, (0, 1)).all():
            raise ValueError("y must be 0 (good) or 1 (bad)")
        if target.min() == target.max():
            raise ValueError("y has one class only; a scorecard needs goods and bads")
        if not 0 < self.min_bin_share < 0.5:
            raise ValueError(f"min_bin_share must be in (0, 0.5), got {self.min_bin_share}")
        if self.prebins < self.max_bins:
            raise ValueError(f"prebins ({self.prebins}) must be at least max_bins ({self.max_bins})")
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        binned: dict[str, FeatureBins] = {}
        for col in frame.columns:
            values = frame[col]
            if _is_numeric(values):
                binned[str(col)] = bin_numeric(
                    str(col),
                    values,
                    target,
                    max_bins=self.max_bins,
                    min_share=self.min_bin_share,
                    monotonic=self.monotonic,
                    allow_turn=self.allow_turn,
                    prebins=self.prebins,
                    seed=self.random_state,
                )
            else:
                binned[str(col)] = bin_categorical(
                    str(col),
                    values,
                    target,
                    max_bins=self.max_bins,
                    min_share=self.min_bin_share,
                    seed=self.random_state,
                )
        self.bins_ = binned
        self.iv_ = {name: b.iv for name, b in binned.items()}
        candidates = [
            n for n in sorted(self.iv_, key=lambda n: -self.iv_[n]) if self.iv_[n] >= self.iv_threshold
        ]
        woe = pd.DataFrame({n: binned[n].woe(frame[n]) for n in candidates}, index=frame.index)
        chosen: list[str] = []
        for name in candidates:
            if self.max_features is not None and len(chosen) >= self.max_features:
                break
            if woe[name].std() == 0:
                continue
            if any(abs(np.corrcoef(woe[name], woe[c])[0, 1]) > self.max_correlation for c in chosen):
                continue
            chosen.append(name)
        while True:
            if not chosen:
                raise ValueError(f"no feature reaches an information value of {self.iv_threshold}")
            model = LogisticRegression(C=self.C, max_iter=1000)
            model.fit(woe[chosen].to_numpy(), target)
            coef = model.coef_[0]
            wrong = [n for n, c in zip(chosen, coef, strict=True) if c > 0]  # WoE up must mean PD down
            if not wrong:
                break
            chosen = [n for n in chosen if n not in wrong]
        self.features_ = chosen
        self.intercept_ = float(model.intercept_[0])
        self.coef_ = {n: float(c) for n, c in zip(chosen, coef, strict=True)}
        return self

    # -- scaling -----------------------------------------------------------------------

    @property
    def factor_(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset_(self) -> float:
        return self.base_score - self.factor_ * math.log(self.base_odds)

    def _bin_points(self, name: str) -> np.ndarray:
        """Points of each bin of ``name``, and (last) of a value with no bin (WoE 0)."""
        woe = np.array([b.woe for b in self.bins_[name].bins] + [0.0])
        share = (self.offset_ - self.factor_ * self.intercept_) / len(self.features_)
        return np.asarray(share - self.factor_ * self.coef_[name] * woe)

    def _points_matrix(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "features_")
        frame = as_frame(X)
        missing = [n for n in self.features_ if n not in frame.columns]
        if missing:
            raise ValueError(f"X lacks the scorecard's features {missing}")
        cols = []
        for name in self.features_:
            idx = self.bins_[name].index(frame[name])
            table = self._bin_points(name)
            cols.append(table[np.where(idx >= 0, idx, len(table) - 1)])
        return np.column_stack(cols)

    def points(self, X: Any) -> np.ndarray:
        """The total score of each row."""
        return np.asarray(self._points_matrix(X).sum(axis=1))

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of bad."""
        return np.asarray((self.offset_ - self.points(X)) / self.factor_)

    def predict_proba(self, X: Any) -> np.ndarray:
        p_bad = 1 / (1 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p_bad, p_bad])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def score_to_pd(self, score: np.ndarray) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-(self.offset_ - np.asarray(score)) / self.factor_)))

    def points_table(self) -> pd.DataFrame:
        """The card: one row per feature and bin, with counts, bad rate, WoE and points."""
        check_is_fitted(self, "features_")
        rows = []
        for name in self.features_:
            pts = self._bin_points(name)
            for i, b in enumerate(self.bins_[name].bins):
                rows.append(
                    {
                        "feature": name,
                        "bin": b.label,
                        "count": b.count,
                        "bad_rate": b.bads / b.count if b.count else 0.0,
                        "woe": b.woe,
                        "points": float(pts[i]),
                    }
                )
        return pd.DataFrame(rows)

    def reasons(self, X: Any, n: int = 4) -> pd.DataFrame:
        """Per row, the ``n`` features that cost the most points against their best bin, worst
        first (``reason_1`` .. ``reason_n``; empty where fewer features cost anything)."""
        matrix = self._points_matrix(X)
        best = np.array([self._bin_points(f)[:-1].max() for f in self.features_])
        lost = best - matrix
        order = np.argsort(-lost, axis=1, kind="stable")[:, :n]
        names = np.array(self.features_, dtype=object)
        out: dict[str, np.ndarray] = {}
        none = np.full(len(matrix), None, dtype=object)
        for k in range(n):
            if k < order.shape[1]:
                col = order[:, k]
                cost = lost[np.arange(len(lost)), col]
                out[f"reason_{k + 1}"] = np.where(cost > 1e-9, names[col], none)
            else:
                out[f"reason_{k + 1}"] = none
        return pd.DataFrame(out, index=as_frame(X).index)

    def monotone_trends(self) -> dict[str, int]:
        """Numeric features whose bins showed a monotonic bad-rate trend: +1 rising, -1 falling."""
        check_is_fitted(self, "bins_")
        return {n: b.trend for n, b in self.bins_.items() if b.kind == "numeric" and b.trend != 0}

    # -- the artifact ------------------------------------------------------------------

    def to_json(self) -> str:
        check_is_fitted(self, "features_")
        doc = {
            "format": FORMAT,
            "params": self.get_params(),
            "features": self.features_,
            "intercept": self.intercept_,
            "coefficients": self.coef_,
            "feature_names_in": [str(n) for n in self.feature_names_in_],
            "information_value": self.iv_,
            "bins": {n: b.to_dict() for n, b in self.bins_.items()},
        }
        return json.dumps(doc, sort_keys=True, indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Scorecard:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        card = cls(**doc["params"])
        card.classes_ = np.array([0, 1])
        card.feature_names_in_ = np.array(doc["feature_names_in"], dtype=object)
        card.n_features_in_ = len(card.feature_names_in_)
        card.bins_ = {n: FeatureBins.from_dict(b) for n, b in doc["bins"].items()}
        card.iv_ = {n: float(v) for n, v in doc["information_value"].items()}
        card.features_ = list(doc["features"])
        card.intercept_ = float(doc["intercept"])
        card.coef_ = {n: float(v) for n, v in doc["coefficients"].items()}
        return card
