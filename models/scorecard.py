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
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from models import card_controls, card_sql
from models.binning import FeatureBins, NumericRule, Prior, bin_categorical, bin_numeric

FORMAT = card_controls.CARD_FORMAT


def as_frame(X: Any) -> pd.DataFrame:
    """``X`` as a data frame (arrays get columns ``x0, x1, ...``)."""
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D table of features, got shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and tuples as lists (for JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s)) and not pd.api.types.is_bool_dtype(s)


class Scorecard(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Binned, WoE-based logistic scorecard for a binary target (1 = bad).

    The analyst's controls (stored as given, checked in ``fit``; see ``models.card_controls``):
    ``user_splits`` sets a feature's bins by hand (``{"income": [1000, 5000]}`` cut points, or
    ``{"sector": [["steel", "mining"], ["retail", "(other)"]]}`` groups of categories);
    ``monotonic_trend`` is the bad-rate trend of the numeric features (``"auto"``,
    ``"ascending"``, ``"descending"``, ``"peak"``, ``"valley"`` or None: free; or a dict per
    feature, ``"*"`` for the rest); ``special_codes`` are values that get a bin each, apart
    from missing values (a list for every feature, or a dict per feature); ``fixed_bins`` is
    an earlier card (or its JSON) whose selected features and bins are reused as they are,
    only their WoE and the regression refitted. ``woe_prior`` is the strength of the prior
    that smooths every bin's WoE, in pseudo-rows of the rarer outcome (``models.binning``).
    """

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
        user_splits: dict[str, Any] | None = None,
        monotonic_trend: str | dict[str, str | None] | None = "auto",
        special_codes: list[Any] | dict[str, list[Any]] | None = None,
        fixed_bins: Any = None,
        woe_prior: float = 1.0,
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
        self.user_splits = user_splits
        self.monotonic_trend = monotonic_trend
        self.special_codes = special_codes
        self.fixed_bins = fixed_bins
        self.woe_prior = woe_prior

    def __sklearn_clone__(self) -> Scorecard:
        """A fitted card given as ``fixed_bins`` is a value, not a sub-estimator: a clone keeps
        it as it is (scikit-learn's clone would hand over an unfitted copy)."""
        params = self.get_params(deep=False)
        fixed = params.pop("fixed_bins")
        return type(self)(**{k: clone(v, safe=False) for k, v in params.items()}, fixed_bins=fixed)

    # -- fitting -----------------------------------------------------------------------

    def _check(self, frame: pd.DataFrame, target: np.ndarray) -> None:
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
        if not (isinstance(self.woe_prior, int | float) and 0 < self.woe_prior < math.inf):
            raise ValueError(f"woe_prior must be a positive number of pseudo-rows, got {self.woe_prior!r}")

    def _bin(self, frame: pd.DataFrame, target: np.ndarray, prior: Prior) -> dict[str, FeatureBins]:
        """Every feature binned as its plan says (or the reused bins recounted)."""
        numeric = {str(c): _is_numeric(frame[c]) for c in frame.columns}
        controls = {
            "user_splits": self.user_splits,
            "monotonic_trend": self.monotonic_trend,
            "special_codes": self.special_codes,
        }
        doc = card_controls.fixed_doc(self.fixed_bins)
        if doc is not None:
            reused = card_controls.fixed(doc, numeric, **controls)
            return {n: b.recounted(frame[n], target, prior) for n, b in reused.items()}
        plans = card_controls.plan(numeric, **controls)
        binned: dict[str, FeatureBins] = {}
        for col in frame.columns:
            name, values, p = str(col), frame[col], plans[str(col)]
            if numeric[name]:
                rule = NumericRule(
                    max_bins=self.max_bins,
                    min_share=self.min_bin_share,
                    seed=self.random_state,
                    monotonic=self.monotonic,
                    allow_turn=self.allow_turn,
                    prebins=self.prebins,
                    trend=p.trend,
                    cuts=p.cuts,
                )
                specials = [float(c) for c in p.specials]
                binned[name] = bin_numeric(name, values, target, rule, prior=prior, specials=specials)
            else:
                binned[name] = bin_categorical(
                    name,
                    values,
                    target,
                    max_bins=self.max_bins,
                    min_share=self.min_bin_share,
                    seed=self.random_state,
                    prior=prior,
                    groups=p.groups,
                    specials=[str(c) for c in p.specials],
                )
        return binned

    def _candidates(self, woe: pd.DataFrame, reused: bool) -> list[str]:
        """The features offered to the regression: by information value, above the threshold,
        not too correlated with a stronger one (with reused bins: the earlier card's)."""
        if reused:
            return [n for n in woe.columns if woe[n].std() > 0]
        names = list(woe.columns)
        if not names:
            return []
        values = woe.to_numpy()
        varies = values.std(axis=0) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.abs(np.corrcoef(values, rowvar=False)).reshape(len(names), len(names))
        chosen: list[int] = []
        for k in range(len(names)):
            if self.max_features is not None and len(chosen) >= self.max_features:
                break
            if varies[k] and not any(corr[k, c] > self.max_correlation for c in chosen):
                chosen.append(k)
        return [names[k] for k in chosen]

    def fit(self, X: Any, y: Any) -> Scorecard:
        # A card's regression has a few dozen columns at most: BLAS threads would only contend
        # with the rest of the machine (twice the wall time on a busy one), so there is one.
        # The trees and the regression get finite arrays built here: scikit-learn's checks of
        # their parameters and inputs are skipped (a third of the time on a small table).
        with (
            threadpool_limits(limits=1, user_api="blas"),
            config_context(skip_parameter_validation=True, assume_finite=True),
        ):
            return self._fit(X, y)

    def _fit(self, X: Any, y: Any) -> Scorecard:
        frame = as_frame(X)
        target = np.asarray(y, dtype=float)
        self._check(frame, target)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        frame = frame.set_axis(list(self.feature_names_in_), axis=1)
        binned = self._bin(frame, target, Prior.of(target, float(self.woe_prior)))
        self.bins_ = binned
        self.iv_ = {name: b.iv for name, b in binned.items()}
        reused = self.fixed_bins is not None
        if reused:
            order = list(binned)
        else:
            order = [
                n for n in sorted(self.iv_, key=lambda n: -self.iv_[n]) if self.iv_[n] >= self.iv_threshold
            ]
        woe = pd.DataFrame({n: binned[n].woe(frame[n]) for n in order}, index=frame.index)
        chosen = self._candidates(woe, reused)
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

    def reference_points(self) -> dict[str, float]:
        """Each feature's reference for the reason codes: the average applicant's points on it,
        i.e. its bins' points weighted by how many training rows fell in each (the
        "average-bin" reference; a bin no training row fell in weighs nothing)."""
        check_is_fitted(self, "features_")
        out = {}
        for name in self.features_:
            counts = np.array([b.count for b in self.bins_[name].bins], dtype=float)
            pts = self._bin_points(name)[:-1]
            out[name] = float(pts @ counts / counts.sum()) if counts.sum() > 0 else float(pts.mean())
        return out

    def points_lost(self, X: Any) -> pd.DataFrame:
        """Per row and feature of the card, the points the row scores below the feature's
        reference (``reference_points``); negative where it scores above it."""
        ref = self.reference_points()
        matrix = self._points_matrix(X)
        lost = np.array([ref[f] for f in self.features_]) - matrix
        return pd.DataFrame(lost, columns=list(self.features_), index=as_frame(X).index)

    def reasons(self, X: Any, n: int = 4) -> pd.DataFrame:
        """Per row, the ``n`` features on which it scores the most points below the average
        applicant (``points_lost``), worst first (``reason_1`` .. ``reason_n``; empty where
        fewer features cost anything). Ties keep the card's feature order."""
        lost = self.points_lost(X).to_numpy()
        order = np.argsort(-lost, axis=1, kind="stable")[:, :n]
        names = np.array(self.features_, dtype=object)
        out: dict[str, np.ndarray] = {}
        none = np.full(len(lost), None, dtype=object)
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

    def to_sql(self, table: str, id_column: str | None = None, *, reasons: int = 0) -> str:
        """One SELECT over ``table`` that runs unchanged on SQLite, DuckDB and PostgreSQL and
        returns per row ``id_column`` (when given), the total points ``score``, the PD ``pd``
        and each feature's points ``points_<feature>``, equal to ``points``, ``predict_proba``
        and ``_points_matrix`` to 1e-9; with ``reasons=n`` also ``reason_1`` .. ``reason_n``,
        equal to ``reasons(X, n)`` (``models.card_sql``)."""
        check_is_fitted(self, "features_")
        return card_sql.select(
            self.features_,
            self.bins_,
            {f: self._bin_points(f) for f in self.features_},
            reference=self.reference_points(),
            offset=self.offset_,
            factor=self.factor_,
            table=table,
            id_column=id_column,
            reasons=reasons,
        )

    # -- the artifact ------------------------------------------------------------------

    def _json_params(self) -> dict[str, Any]:
        """The parameters as JSON values; ``fixed_bins`` as the bins it reuses only."""
        params = self.get_params(deep=False)
        params["fixed_bins"] = card_controls.fixed_doc(self.fixed_bins)
        return dict(_plain(params))

    def to_json(self) -> str:
        check_is_fitted(self, "features_")
        doc = {
            "format": FORMAT,
            "params": self._json_params(),
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
