"""Reason codes in words: a sentence for every feature of the dictionary, with the applicant's
own figure, where it stands and the points it costs against the average applicant."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from models.scorecard import Scorecard
from pipelines.features.catalogue import FEATURES
from pipelines.features.statements import missing_statements, statement
from pipelines.scoring.reasons import explain, standing
from tests.models.test_scorecard import credit_data


def test_every_feature_of_the_dictionary_has_a_sentence() -> None:
    assert missing_statements() == []


@pytest.mark.parametrize(
    ("feature", "value", "said"),
    [
        ("sales_growth_3m", -0.5325, "Sales fell 42% over 3 months against the 3 before"),
        ("sales_growth_3m", 2.0, "Sales started: some in the last 3 months, none in the 3 before"),
        ("sales_3m", 1234567.0, "Sales of CNY 1,234,567.00 in the last 3 months"),
        (
            "si_arrears_months_12m",
            3.0,
            "Social-insurance contributions paid short in 3 of the last 12 months",
        ),
        ("customers_12m", 1.0, "1 customer in the last 12 months"),
        ("thin_file", 1.0, "Thin file: under 6 months of attested history in the last 12"),
        (
            "headcount_vs_sales_growth_3m",
            0.8,
            "Headcount grew 80 points faster than sales over 3 months (symmetric growth)",
        ),
        ("top_customer_share_12m", 0.004, "The largest customer takes 0.4% of 12 months' sales"),
        ("sales_growth_6m", float("nan"), "No value for sales growth 6m"),
    ],
)
def test_a_statement_states_the_applicants_own_figure(feature: str, value: float, said: str) -> None:
    assert statement(feature, value) == said


def test_no_statement_leaks_a_template_or_a_raw_number() -> None:
    for f in FEATURES:
        signed = any(w in f.name for w in ("growth", "change", "gap"))  # the features that go below 0
        for value in (f.empty, 0.0, 0.37, 1.0, 3.0, 12.0, 366.0, 2_500_000.0, *((-0.6,) if signed else ())):
            said = statement(f.name, value)
            assert (said[0].isupper() or said[0].isdigit()) and not re.search(r"[{}]|nan|inf|_", said), (
                f.name,
                value,
                said,
            )


def test_explain_gives_each_reason_its_sentence() -> None:
    X, y = credit_data(3000, seed=5)
    card = Scorecard().fit(X, y)
    out = explain(card, X, 3)
    assert list(out.columns[:3]) == ["reason_1", "reason_2", "reason_3"]
    lost = card.points_lost(X)
    for i in range(0, len(X), 211):
        for k in (1, 2, 3):
            feature, text = out[f"reason_{k}"].iloc[i], out[f"reason_{k}_statement"].iloc[i]
            if not isinstance(feature, str):
                assert text is None or pd.isna(text)
                continue
            assert f"{lost[feature].iloc[i]:.0f} points below the average applicant" in text
    utilisation = card.bins_["utilisation"]  # bad rate rises with it: its top bin is high
    assert standing(utilisation, utilisation.n_ordinary - 1) == "higher than most applicants"
    assert standing(utilisation, 0) == "lower than most applicants"
    high = X.iloc[[0]].assign(utilisation=0.99, income=np.nan)
    text = explain(card, pd.concat([high]), 3)
    said = " ".join(t for t in text.filter(like="_statement").iloc[0] if isinstance(t, str))
    assert "utilisation = 0.99 (higher than most applicants" in said
