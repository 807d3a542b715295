"""The analyst's controls of the scorecard, each on a small hand-made set: hand-set bins, the
trend per feature, special values, bins reused from an earlier card, the WoE prior, the JSON
round trip, the report's card section and scikit-learn's estimator checks."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from models.binning import MISSING, BinningError, NumericRule, Prior, bin_numeric, follows
from models.report import card_section
from models.scorecard import Scorecard


def shapes(n: int = 3000, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """``x``: risk rises with it; ``u``: risk is lowest in the middle; ``c``: four categories."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 100, n)
    u = rng.uniform(0, 100, n)
    c = rng.choice(["a", "b", "c", "d"], n)
    lift = pd.Series(c).map({"a": 0.0, "b": 0.5, "c": 1.0, "d": 1.5}).to_numpy()
    logit = -2.5 + 0.03 * (x - 50) + 0.0012 * (u - 50) ** 2 + lift
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x": x, "u": u, "c": pd.Series(c, dtype="str")}), y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return shapes()


def test_user_splits_are_the_bins_of_a_numeric_feature(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    card = Scorecard(user_splits={"x": [60, 20, 40]}).fit(X, y)
    fb = card.bins_["x"]
    assert fb.edges == [20.0, 40.0, 60.0] and fb.by_hand and not card.bins_["u"].by_hand
    counts, _ = np.histogram(X["x"], bins=[-np.inf, 20, 40, 60, np.inf])
    assert [b.count for b in fb.bins] == list(counts)
    bads = [
        int(y[(X["x"] >= lo) & (X["x"] < hi)].sum()) for lo, hi in [(0, 20), (20, 40), (40, 60), (60, 101)]
    ]
    assert [b.bads for b in fb.bins] == bads
    table = card.points_table()
    assert list(table[table.feature == "x"].bin) == ["[-inf, 20)", "[20, 40)", "[40, 60)", "[60, inf)"]
    assert card.bins_["x"].index(pd.Series([19.999, 20.0, 59.9, 60.0])).tolist() == [0, 1, 2, 3]


def test_user_splits_group_the_categories_of_a_categorical_feature(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data
    card = Scorecard(user_splits={"c": [["a", "b"], ["c", "(other)"]]}).fit(X, y)
    fb = card.bins_["c"]
    assert [b.label for b in fb.bins] == ["a, b", "(other), c"] and fb.by_hand
    assert fb.bins[0].count == int(X["c"].isin(["a", "b"]).sum())
    assert fb.bins[1].count == int(X["c"].isin(["c", "d"]).sum())  # "d" is in no group: (other)
    assert fb.index(pd.Series(["d", "never seen", "b"])).tolist() == [1, 1, 0]
    with pytest.raises(BinningError, match=r"categories \['d'\] are in no group of user_splits"):
        Scorecard(user_splits={"c": [["a", "b"], ["c"]]}).fit(X, y)


def test_monotonic_trend_per_feature_with_a_default(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    card = Scorecard(monotonic_trend={"u": "valley", "*": "ascending"}).fit(X, y)
    u, x = card.bins_["u"], card.bins_["x"]
    assert (u.rule, x.rule, card.bins_["c"].rule) == ("valley", "ascending", None)
    assert u.shape == "valley" and x.shape == "ascending" and len(u.bins) >= 3
    rates = [b.bads / b.count for b in u.bins]
    low = int(np.argmin(rates))
    assert np.all(np.diff(rates[: low + 1]) <= 0) and np.all(np.diff(rates[low:]) >= 0)
    auto = Scorecard().fit(X, y).bins_["u"]
    assert auto.shape in ("ascending", "descending", "flat") and u.iv > 2 * auto.iv
    forced = Scorecard(monotonic_trend={"x": "descending"}).fit(X, y).bins_["x"]  # against the data
    woe = [b.woe for b in forced.bins]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(woe)), "descending: WoE rises"
    free = Scorecard(monotonic_trend=None, max_bins=8).fit(X, y).bins_["u"]
    assert free.rule is None and free.shape not in ("ascending", "descending")
    peak = Scorecard(monotonic_trend={"u": "peak"}, allow_turn=True).fit(X, y).bins_["u"]
    assert follows(np.array([b.bads / b.count for b in peak.bins]), "peak")


def test_a_user_split_that_breaks_a_forced_trend_is_refused(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    with pytest.raises(BinningError, match=r"user splits \[30.0, 70.0\] give .* the trend 'ascending'"):
        Scorecard(user_splits={"u": [30, 70]}, monotonic_trend={"u": "ascending"}).fit(X, y)
    card = Scorecard(user_splits={"u": [30, 70]}, monotonic_trend={"u": "valley"}).fit(X, y)
    assert card.bins_["u"].shape == "valley" and card.bins_["u"].edges == [30.0, 70.0]
    assert Scorecard(user_splits={"u": [30, 70]}).fit(X, y).bins_["u"].edges == [30.0, 70.0]  # auto: as given


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"user_splits": {"nope": [1]}}, r"user_splits names features that are not in the data: \['nope'\]"),
        (
            {"monotonic_trend": {"nope": "ascending"}},
            "monotonic_trend names features that are not in the data",
        ),
        ({"special_codes": {"nope": [1]}}, "special_codes names features that are not in the data"),
        ({"monotonic_trend": "up"}, "monotonic_trend must be one of 'auto', 'ascending'"),
        ({"monotonic_trend": {"c": "ascending"}}, "'c' is categorical: its groups have no order"),
        ({"user_splits": {"x": [1, 1.0]}}, "repeats a cut"),
        ({"user_splits": {"x": ["a"]}}, "its cuts must be finite numbers"),
        ({"user_splits": {"x": [float("inf")]}}, "its cuts must be finite numbers"),
        ({"user_splits": {"c": ["a", "b"]}}, "give its bins as non-empty lists of categories"),
        ({"user_splits": {"c": [["a"], ["a", "b"]]}}, r"in more than one group: \['a'\]"),
        ({"user_splits": [1, 2]}, "user_splits must be a dict"),
        ({"special_codes": [float("nan")]}, "missing values have their own bin"),
        ({"special_codes": {"x": ["n/a"]}}, "'x' is numeric, 'n/a' is text"),
        (
            {"special_codes": {"c": ["a"]}, "user_splits": {"c": [["a", "b"], ["c", "d"]]}},
            "special values and also",
        ),
        ({"fixed_bins": "{}"}, "fixed_bins must be a fitted card or a smecredit-scorecard/1"),
        ({"fixed_bins": "not json"}, "fixed_bins is not a scorecard's JSON"),
        ({"fixed_bins": Scorecard()}, "fixed_bins is a card that is not fitted"),
        ({"woe_prior": 0}, "woe_prior must be a positive number"),
    ],
)
def test_bad_controls_are_one_clear_error(
    data: tuple[pd.DataFrame, np.ndarray], params: dict[str, Any], message: str
) -> None:
    X, y = data
    with pytest.raises(ValueError, match=message) as caught:
        Scorecard(**params).fit(X, y)
    assert "\n" not in str(caught.value)


def test_fixed_bins_cannot_be_steered_again_nor_miss_a_feature(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    earlier = Scorecard().fit(X, y)
    with pytest.raises(BinningError, match="cannot be combined with user_splits, monotonic_trend"):
        Scorecard(fixed_bins=earlier, user_splits={"x": [50]}, monotonic_trend=None).fit(X, y)
    with pytest.raises(BinningError, match=r"fixed_bins names features that are not in the data: \['x'\]"):
        Scorecard(fixed_bins=earlier).fit(X.drop(columns="x"), y)
    with pytest.raises(BinningError, match="'x' was numeric in the earlier card and is categorical"):
        Scorecard(fixed_bins=earlier).fit(X.assign(x=X["x"].round().astype(str)), y)


def with_specials(X: pd.DataFrame, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = X.copy()
    out.loc[rng.random(len(X)) < 0.05, "x"] = -9999.0
    out.loc[rng.random(len(X)) < 0.04, "x"] = np.nan
    out.loc[rng.random(len(X)) < 0.03, "c"] = "not reported"
    return out


def test_special_values_get_bins_of_their_own(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    Xs = with_specials(X)
    card = Scorecard(special_codes=[-9999, "not reported"]).fit(Xs, y)
    x, c, u = card.bins_["x"], card.bins_["c"], card.bins_["u"]
    special = (Xs["x"] == -9999).to_numpy()
    assert [b.label for b in x.bins[-2:]] == [MISSING, "(special) -9999"]
    assert x.bins[-1].count == special.sum() and x.bins[-1].bads == y[special].sum()
    assert x.bins[x.missing_bin or 0].count == Xs["x"].isna().sum()
    assert sum(b.count for b in x.bins[: x.n_ordinary]) == len(Xs) - special.sum() - Xs["x"].isna().sum()
    assert x.edges[0] > 0, "-9999 takes no part in the ordinary bins"
    assert (
        c.bins[-1].label == "(special) not reported" and c.bins[-1].count == (Xs["c"] == "not reported").sum()
    )
    assert [lab for lab in (b.label for b in c.bins) if "9999" in lab] == [], (
        "numbers are for numeric features"
    )
    assert u.bins[-1].label == "(special) -9999" and u.bins[-1].count == 0
    assert u.bins[-1].woe == pytest.approx(0.0, abs=1e-12), "a special value never seen: no evidence"
    table = card.points_table()
    assert {"(special) -9999", "(special) not reported"} <= set(table.bin)
    one = Xs.iloc[[0, 0]].copy()
    one["x"] = [-9999.0, np.nan]
    idx = [x.index(one["x"])[0], x.index(one["x"])[1]]
    assert idx == [len(x.bins) - 1, x.missing_bin]
    per_feature = Scorecard(special_codes={"x": [-9999, -1], "c": ["not reported"]}).fit(Xs, y)
    assert [b.label for b in per_feature.bins_["x"].bins[-2:]] == ["(special) -9999", "(special) -1"]
    assert not per_feature.bins_["u"].specials


def test_fixed_bins_are_reused_exactly_and_only_the_weights_refitted(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data
    earlier = Scorecard(special_codes=[-9999], user_splits={"x": [25, 50, 75]}).fit(with_specials(X), y)
    X2, y2 = shapes(2500, seed=9)
    X2 = with_specials(X2, seed=3)
    card = Scorecard(fixed_bins=earlier).fit(X2, y2)
    assert list(card.bins_) == earlier.features_ and set(card.features_) <= set(earlier.features_)
    for name in earlier.features_:
        old, new = earlier.bins_[name].to_dict(), card.bins_[name].to_dict()
        for key in ("kind", "edges", "categories", "missing_bin", "specials", "rule", "by_hand"):
            assert new[key] == old[key], (name, key)
        assert [b["label"] for b in new["bins"]] == [b["label"] for b in old["bins"]]
        idx = earlier.bins_[name].index(X2[name])
        assert [b["count"] for b in new["bins"]] == np.bincount(idx, minlength=len(old["bins"])).tolist()
    assert card.coef_ != earlier.coef_
    from_text = Scorecard(fixed_bins=earlier.to_json()).fit(X2, y2)
    assert from_text.to_json() == card.to_json()
    twin = clone(card)
    assert twin.get_params()["fixed_bins"] is earlier, "a clone keeps the fitted card it reuses"
    assert cross_val_score(twin, X2, y2, cv=3, scoring="roc_auc").min() > 0.6


def test_the_woe_prior_gives_a_zero_bad_bin_a_finite_shrunk_woe() -> None:
    x = np.repeat(np.arange(10.0), 100)
    y = np.zeros(1000, dtype=int)
    y[200:1000:10] = 1  # no bad below 2, then one in ten
    X = pd.DataFrame({"x": x})
    woes = []
    for strength in (0.001, 1.0, 4.0):
        card = Scorecard(user_splits={"x": [2, 5]}, woe_prior=strength, iv_threshold=0).fit(X, y)
        fb = card.bins_["x"]
        p0 = y.mean()
        rows = strength / p0
        goods, bads = fb.bins[0].count - fb.bins[0].bads + rows * (1 - p0), fb.bins[0].bads + rows * p0
        expected = math.log(goods / bads) - math.log((1 - p0) / p0)
        assert fb.bins[0].bads == 0 and fb.bins[0].woe == pytest.approx(expected, rel=1e-12)
        woes.append(fb.bins[0].woe)
    assert woes[0] > 5 > woes[1] > woes[2] > 0, "the stronger the prior, the more a pure bin is shrunk"
    rule = NumericRule(max_bins=6, min_share=0.05, seed=0, cuts=(5.0,))
    same = bin_numeric("x", X["x"].iloc[200:], y[200:], rule, prior=Prior.of(y[200:], 1.0))
    assert [b.woe for b in same.bins] == pytest.approx([0.0, 0.0], abs=1e-12), "the population's rate: WoE 0"


def test_json_round_trip_keeps_every_new_parameter(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    Xs = with_specials(X)
    params: dict[str, Any] = {
        "user_splits": {"x": [25.0, 50.0, 75.0], "c": [["a"], ["b", "(other)"]]},
        "monotonic_trend": {"u": "valley", "*": "auto"},
        "special_codes": {"x": [-9999], "c": ["not reported"]},
        "woe_prior": 2.0,
    }
    card = Scorecard(**params).fit(Xs, y)
    back = Scorecard.from_json(card.to_json())
    assert back.get_params() == card.get_params() and back.to_json() == card.to_json()
    np.testing.assert_array_equal(back.points(Xs), card.points(Xs))
    assert clone(back).fit(Xs, y).to_json() == card.to_json(), "the parameters still steer a refit"
    reused = Scorecard(fixed_bins=card).fit(Xs, y)
    again = Scorecard.from_json(reused.to_json())
    assert again.to_json() == reused.to_json()
    assert again.get_params()["fixed_bins"]["format"] == "smecredit-scorecard-bins/1"
    assert clone(again).fit(Xs, y).to_json() == reused.to_json()
    assert len(reused.to_json()) < 2 * len(card.to_json()), "the earlier card's bins only, not all of it"
    old = json.loads(Scorecard().fit(X, y).to_json())  # as saved before these controls
    for key in ("user_splits", "monotonic_trend", "special_codes", "fixed_bins", "woe_prior"):
        del old["params"][key]
    for fb in old["bins"].values():
        for key in ("specials", "rule", "by_hand"):
            del fb[key]
    legacy = Scorecard.from_json(json.dumps(old))
    np.testing.assert_array_equal(legacy.points(X), Scorecard().fit(X, y).points(X))


def test_the_report_shows_each_features_bins_trend_and_who_set_them(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data
    card = Scorecard(
        user_splits={"x": [25, 50, 75]},
        monotonic_trend={"u": "valley"},
        special_codes=[-9999, "not reported"],
    ).fit(with_specials(X), y)
    page = card_section(card)
    for text in ("<h3>x</h3>", "<h3>u</h3>", "<h3>c</h3>", "by hand (user_splits)", "automatically"):
        assert text in page
    for text in (
        "valley (forced)",
        "none: bins as set by hand",
        "(special) -9999",
        "(special) not reported",
        "special",
    ):
        assert text in page
    summary = page[: page.index("<h3>")]
    rows = {r.split("</td>")[0]: r for r in summary.split("<td>")[1:] if "</td>" in r}
    x_row = summary[summary.index("<td>x</td>") :].split("</tr>")[0]
    u_row = summary[summary.index("<td>u</td>") :].split("</tr>")[0]
    assert "<td>by hand (user_splits)</td>" in x_row and "<td>valley</td>" in u_row and rows
    reused = card_section(Scorecard(fixed_bins=card).fit(with_specials(X), y))
    assert "reused from an earlier card (fixed_bins), made by hand (user_splits)" in reused


# scikit-learn's estimator checks that passed before the controls were added (the others fail
# by design: y must be 0 or 1, categorical features are read as text, NaN is a missing value)
PASSING_CHECKS = {
    "check_estimator_cloneable",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_estimators_unfitted",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_pipeline_consistency",
    "check_estimators_pickle",
    "check_classifiers_one_label",
    "check_classifiers_one_label_sample_weights",
    "check_estimators_partial_fit_n_features",
    "check_supervised_y_no_nan",
    "check_non_transformer_estimators_n_iter",
    "check_decision_proba_consistency",
    "check_parameters_default_constructible",
    "check_fit2d_1sample",
    "check_get_params_invariance",
    "check_set_params",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit1d",
}


def test_the_scikit_learn_checks_that_passed_still_pass() -> None:
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(Scorecard(), on_fail=None)
    status: dict[str, set[str]] = {}
    for r in results:
        status.setdefault(r["check_name"], set()).add(r["status"])
    failing = {name for name in PASSING_CHECKS if status.get(name) != {"passed"}}
    assert not failing, f"checks that no longer pass: {sorted(failing)}"
