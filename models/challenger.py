"""The challenger: gradient-boosted trees (``HistGradientBoostingClassifier``) with monotonic
constraints where the scorecard's binning found a monotonic trend, calibrated by isotonic
regression on the most recent part of the training rows.

Its artifact is JSON too: the trees' nodes, the categorical encodings and the isotonic map;
``predict_proba`` of a model read back from JSON walks those trees in numpy and matches
scikit-learn's own prediction (a test holds them equal). Nothing is pickled.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

from models.scorecard import as_frame

FORMAT = "smecredit-challenger/1"
_NODE = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf")


class Challenger(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Calibrated, monotone-constrained boosted trees for a binary target (1 = bad).

    ``monotone`` maps numeric feature names to +1 (PD rises with the value) or -1. String
    columns are encoded by their smoothed training bad rate. Rows are expected in time order:
    the last ``calibration_share`` of them calibrate, the others train the trees.
    """

    def __init__(
        self,
        *,
        monotone: dict[str, int] | None = None,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        calibration_share: float = 0.25,
        random_state: int = 0,
    ) -> None:
        self.monotone = monotone
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.calibration_share = calibration_share
        self.random_state = random_state

    def _encode(self, X: Any) -> np.ndarray:
        frame = as_frame(X)
        cols = []
        for name in self.columns_:
            if name in self.encodings_:
                table = self.encodings_[name]
                mapped = frame[name].astype(object).map(table).astype(float)
                cols.append(mapped.fillna(self.prior_).to_numpy(dtype=float))
            else:
                cols.append(pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float))
        return np.column_stack(cols)

    def fit(self, X: Any, y: Any) -> Challenger:
        frame = as_frame(X)
        target = np.asarray(y, dtype=float)
        self.classes_ = np.array([0, 1])
        # A column with no value in the training rows tells the trees nothing, and
        # scikit-learn's binning fails on it: the model leaves it out (and ignores it after).
        self.columns_ = [str(c) for c in frame.columns if frame[c].notna().any()]
        if not self.columns_:
            raise ValueError("every feature column is empty in the training rows")
        frame = frame[self.columns_]
        self.prior_ = float(target.mean())
        self.encodings_: dict[str, dict[str, float]] = {}
        for name in self.columns_:
            col = frame[name]
            if not pd.api.types.is_numeric_dtype(col):
                g = pd.DataFrame({"c": col.astype(object), "y": target}).dropna().groupby("c")["y"]
                rate = (g.sum() + 10 * self.prior_) / (g.count() + 10)
                self.encodings_[name] = {str(k): float(v) for k, v in rate.items()}
        self.n_features_in_ = len(self.columns_)
        matrix = self._encode(frame)
        cut = int(len(matrix) * (1 - self.calibration_share))
        monotone = self.monotone or {}
        cst = [int(monotone.get(c, 0)) if c not in self.encodings_ else 0 for c in self.columns_]
        trees = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            monotonic_cst=cst,
            early_stopping=False,
            random_state=self.random_state,
        )
        trees.fit(matrix[:cut], target[:cut])
        self.model_ = trees
        raw = trees.decision_function(matrix[cut:])
        iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6).fit(raw, target[cut:])
        self.iso_x_ = [float(v) for v in iso.X_thresholds_]
        self.iso_y_ = [float(v) for v in iso.y_thresholds_]
        self.baseline_ = float(np.asarray(trees._baseline_prediction).ravel()[0])
        self.trees_ = [{k: np.asarray(p.nodes[k]).tolist() for k in _NODE} for [p] in trees._predictors]
        return self

    def raw_score(self, X: Any) -> np.ndarray:
        """The trees' log-odds of bad, from the JSON-able nodes."""
        check_is_fitted(self, "trees_")
        matrix = self._encode(X)
        n = len(matrix)
        total = np.full(n, self.baseline_)
        rows = np.arange(n)
        for tree in self.trees_:
            t = {k: np.asarray(v) for k, v in tree.items()}
            node = np.zeros(n, dtype=np.int64)
            while True:
                leaf = t["is_leaf"][node].astype(bool)
                if leaf.all():
                    break
                x = matrix[rows, t["feature_idx"][node]]
                go_left = np.where(
                    np.isnan(x), t["missing_go_to_left"][node].astype(bool), x <= t["num_threshold"][node]
                )
                nxt = np.where(go_left, t["left"][node], t["right"][node])
                node = np.where(leaf, node, nxt)
            total += t["value"][node]
        return total

    def predict_proba(self, X: Any) -> np.ndarray:
        p_bad = np.interp(self.raw_score(X), self.iso_x_, self.iso_y_)
        return np.column_stack([1 - p_bad, p_bad])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def to_json(self) -> str:
        check_is_fitted(self, "trees_")
        doc = {
            "format": FORMAT,
            "params": self.get_params(),
            "columns": self.columns_,
            "prior": self.prior_,
            "encodings": self.encodings_,
            "baseline": self.baseline_,
            "trees": self.trees_,
            "isotonic": {"x": self.iso_x_, "y": self.iso_y_},
        }
        return json.dumps(doc, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Challenger:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        model = cls(**doc["params"])
        model.classes_ = np.array([0, 1])
        model.columns_ = list(doc["columns"])
        model.n_features_in_ = len(model.columns_)
        model.prior_ = float(doc["prior"])
        model.encodings_ = doc["encodings"]
        model.baseline_ = float(doc["baseline"])
        model.trees_ = doc["trees"]
        model.iso_x_ = doc["isotonic"]["x"]
        model.iso_y_ = doc["isotonic"]["y"]
        return model
