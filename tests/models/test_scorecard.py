"""The scorecard as a scikit-learn estimator on generic credit data, and its JSON artifact."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline

from models.binning import MISSING
from models.challenger import Challenger
from models.scorecard import Scorecard


def credit_data(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two risk drivers (one with gaps), a categorical one, and noise."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.5, n)
    utilisation = rng.uniform(0, 1, n)
    sector = rng.choice(["retail", "food", "steel", "textiles", "rare"], n, p=[0.3, 0.3, 0.2, 0.18, 0.02])
    logit = (
        -2.2 - 1.1 * (np.log(income) - 10) / 0.5 + 2.0 * utilisation + np.where(sector == "steel", 0.8, 0.0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame(
        {
            "income": income,
            "utilisation": utilisation,
            "sector": pd.Series(sector, dtype="str"),
            "noise": rng.normal(size=n),
        }
    )
    X.loc[rng.random(n) < 0.08, "income"] = np.nan
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return credit_data()


@pytest.fixture(scope="module")
def card(data: tuple[pd.DataFrame, np.ndarray]) -> Scorecard:
    X, y = data
    return Scorecard().fit(X, y)


def test_it_is_a_scikit_learn_estimator(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    params = Scorecard(pdo=40, base_score=500).get_params()
    assert params["pdo"] == 40 and params["base_score"] == 500 and "min_bin_share" in params
    assert clone(Scorecard(pdo=40)).get_params()["pdo"] == 40
    aucs = cross_val_score(Scorecard(), X, y, cv=3, scoring="roc_auc")
    assert aucs.min() > 0.7
    pipe = Pipeline([("card", Scorecard(max_bins=4))]).fit(X, y)
    assert pipe.predict_proba(X).shape == (len(X), 2)
    assert set(pipe.predict(X)) <= {0, 1}
    numpy_fit = Scorecard().fit(X[["utilisation", "noise"]].to_numpy(), y)
    assert numpy_fit.features_ == ["x0"]


def test_allow_turn_bins_a_u_shaped_risk_with_one_turn(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    rng = np.random.default_rng(3)
    n = 6000
    amount = rng.uniform(0, 100, n)
    risk = 0.1 + 0.5 * ((amount - 50) / 50) ** 2  # small and large amounts are riskier
    y = (rng.random(n) < risk).astype(int)
    X = pd.DataFrame({"amount": amount, "noise": rng.normal(size=n)})
    plain = Scorecard().fit(X, y).bins_["amount"]
    turned = Scorecard(allow_turn=True).fit(X, y).bins_["amount"]
    rates = [b.bads / b.count for b in turned.bins]
    low = int(np.argmin(rates))
    assert 0 < low < len(rates) - 1, "the lowest bad rate lies inside the range"
    assert all(a >= b for a, b in itertools.pairwise(rates[: low + 1]))
    assert all(a <= b for a, b in itertools.pairwise(rates[low:]))
    assert len(turned.bins) <= 6 and min(b.count for b in turned.bins) >= 0.05 * n
    assert turned.trend == 0 and turned.iv > 2 * plain.iv  # a monotonic cut misses half the story
    with pytest.raises(ValueError, match="prebins"):
        Scorecard(allow_turn=True, prebins=4).fit(X, y)
    card = Scorecard(allow_turn=True).fit(X, y)
    again = Scorecard.from_json(card.to_json())
    assert again.get_params()["allow_turn"] is True
    assert np.array_equal(again.points(X), card.points(X))


def test_binning_selection_and_monotonic_woe(card: Scorecard) -> None:
    assert card.features_[0] in ("income", "utilisation") and "noise" not in card.features_
    assert set(card.features_) == {"income", "utilisation", "sector"}
    income = card.bins_["income"]
    labels = [b.label for b in income.bins]
    assert labels[-1] == MISSING and income.missing_bin == len(labels) - 1
    woe = [b.woe for b in income.bins[:-1]]
    assert all(a <= b for a, b in itertools.pairwise(woe)), "income's WoE must rise with income"
    assert card.bins_["utilisation"].trend == 1 and income.trend == -1
    shares = [b.count / 4000 for b in card.bins_["utilisation"].bins]
    assert min(shares) >= 0.05
    sector = card.bins_["sector"]
    assert sector.kind == "categorical" and len(sector.bins) <= 6
    assert sector.index(pd.Series(["never seen"]))[0] >= 0  # unseen categories land in a bin


def test_points_follow_the_scaling(card: Scorecard, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = data
    p = card.predict_proba(X)[:, 1]
    score = card.points(X)
    odds_good = (1 - p) / p
    expected = card.base_score + card.pdo / math.log(2) * np.log(odds_good / card.base_odds)
    np.testing.assert_allclose(score, expected, rtol=1e-9)
    table = card.points_table()
    assert list(table.columns) == ["feature", "bin", "count", "bad_rate", "woe", "points"]
    row = X.iloc[[0]]
    by_hand = sum(
        table[(table.feature == f)].points.iloc[int(card.bins_[f].index(row[f])[0])] for f in card.features_
    )
    assert by_hand == pytest.approx(score[0])


def test_reasons_name_the_features_that_cost_the_most_points(
    card: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data
    reasons = card.reasons(X, n=4)
    assert list(reasons.columns) == ["reason_1", "reason_2", "reason_3", "reason_4"]
    assert reasons["reason_4"].isna().all()  # three features: at most three reasons
    best = X.iloc[[0]].copy()
    best["income"], best["utilisation"], best["sector"] = 1e9, 0.0, "food"
    worst = best.copy()
    worst["utilisation"] = 0.99
    assert card.reasons(worst).iloc[0]["reason_1"] == "utilisation"
    assert card.reasons(best).iloc[0].isna().sum() >= 2


def test_reasons_measure_points_against_the_average_applicant(
    card: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data
    ref = card.reference_points()
    lost = card.points_lost(X)
    for f in card.features_:  # on the training rows, the average applicant loses nothing on average
        assert lost[f].mean() == pytest.approx(0.0, abs=1e-6), f
        pts = card.points_table().query("feature == @f").points
        assert pts.min() <= ref[f] <= pts.max()
    reasons = card.reasons(X, n=4)
    for i in range(0, len(X), 97):  # a reason is a feature scored below its reference, worst first
        row = lost.iloc[i]
        named = [r for r in reasons.iloc[i] if isinstance(r, str)]
        assert named == list(row[row > 1e-9].sort_values(ascending=False, kind="stable").index[:4])


def test_a_rare_pure_bin_does_not_become_everyones_first_reason() -> None:
    """A flag held by 2% of applicants, none of them bad, gets the best points of its feature;
    against that best bin, nearly every applicant would have the flag as reason_1 (the demo's
    headcount_vs_sales_growth_3m), against the average applicant only those who differ."""
    X, y = credit_data(6000, seed=3)
    rng = np.random.default_rng(3)
    flag = (rng.random(len(X)) < 0.02) & (y == 0)
    X = X.assign(flag=flag.astype(float))
    card = Scorecard(user_splits={"flag": [0.5]}).fit(X, y)
    assert "flag" in card.features_
    matrix = card._points_matrix(X)
    best = np.array([card._bin_points(f)[:-1].max() for f in card.features_])
    by_best_bin = np.array(card.features_)[np.argmax(best - matrix, axis=1)]
    assert (by_best_bin == "flag").mean() > 0.9
    first = card.reasons(X, n=1)["reason_1"]
    assert (first == "flag").mean() < 0.3  # those above average on every other feature
    lost = card.points_lost(X)
    assert lost.loc[~flag, "flag"].max() < 0.05 * (best - matrix).max()  # without the flag: a few points


def test_json_round_trip_is_exact(card: Scorecard, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    scaled = Scorecard(pdo=50, base_score=700, base_odds=20).fit(X, y)
    for model in (card, scaled):
        back = Scorecard.from_json(model.to_json())
        assert back.to_json() == model.to_json()
        assert back.get_params() == model.get_params()
        np.testing.assert_array_equal(back.points(X), model.points(X))
        pd.testing.assert_frame_equal(back.reasons(X), model.reasons(X))
    with pytest.raises(ValueError, match="not a smecredit-scorecard"):
        Scorecard.from_json('{"format": "pickle"}')


def test_bad_inputs_are_refused_clearly(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    with pytest.raises(ValueError, match="one class"):
        Scorecard().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="0 \\(good\\) or 1"):
        Scorecard().fit(X, np.full(len(X), 2))
    with pytest.raises(ValueError, match="rows"):
        Scorecard().fit(X, y[:10])
    with pytest.raises(ValueError, match="information value"):
        Scorecard(iv_threshold=5).fit(X, y)
    with pytest.raises(ValueError, match="lacks"):
        Scorecard().fit(X, y).points(X.drop(columns="utilisation"))


def test_challenger_is_monotone_calibrated_and_its_json_predicts_like_sklearn(
    card: Scorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    trends = {k: v for k, v in card.monotone_trends().items() if k in card.features_}
    model = Challenger(monotone=trends, max_iter=60).fit(X, y)
    raw = model.model_.decision_function(model._encode(X))
    np.testing.assert_allclose(model.raw_score(X), raw, rtol=0, atol=1e-9)
    back = Challenger.from_json(model.to_json())
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    grid = pd.concat([X.iloc[[5]]] * 50, ignore_index=True)
    grid["utilisation"] = np.linspace(0, 1, 50)
    p = back.predict_proba(grid)[:, 1]
    assert np.all(np.diff(p) >= -1e-12), "PD must not fall as utilisation rises"
    p_all = back.predict_proba(X)[:, 1]
    assert abs(p_all.mean() - y.mean()) < 0.03


def test_challenger_leaves_out_a_feature_with_no_value(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    gappy = X.assign(never_seen=np.nan)  # a feature no training row has (a new data source)
    model = Challenger(monotone={"utilisation": 1, "never_seen": 1}, max_iter=20).fit(gappy, y)
    assert "never_seen" not in model.columns_
    back = Challenger.from_json(model.to_json())
    without = Challenger(monotone={"utilisation": 1}, max_iter=20).fit(X, y)
    np.testing.assert_array_equal(back.predict_proba(gappy), without.predict_proba(X))
    with pytest.raises(ValueError, match="every feature column is empty"):
        Challenger().fit(pd.DataFrame({"a": [np.nan] * 10, "b": [None] * 10}), y[:10])
