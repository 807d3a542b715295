"""The movement bridge adds up exactly: opening + causes = closing."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipelines.portfolio import bridge, loan_movements


def book(ids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    n = len(ids)
    twelve = rng.integers(0, 50_000, n)
    lifetime = twelve + rng.integers(0, 80_000, n)
    stage = rng.choice([1, 2, 3], n, p=[0.8, 0.15, 0.05])
    ecl = np.where(stage == 1, twelve, lifetime)
    return pd.DataFrame(
        {"loan_id": ids, "stage": stage, "ecl_fen": ecl, "ecl_12m_fen": twelve, "ecl_lifetime_fen": lifetime}
    )


def test_the_bridge_adds_up_exactly() -> None:
    rng = np.random.default_rng(3)
    opening = book([f"L{i:04d}" for i in range(0, 900)], rng)
    closing = book([f"L{i:04d}" for i in range(100, 1000)], rng)
    repaid = {f"L{i:04d}" for i in range(0, 60)}
    old_model = pd.Series(
        closing["ecl_fen"].to_numpy() - rng.integers(-500, 500, len(closing)), index=closing["loan_id"]
    )
    for old in (None, old_model):
        per_loan = loan_movements(opening, closing, repaid, old)
        rows = bridge(opening, closing, per_loan, date(2025, 6, 30))
        steps = rows.set_index("cause")["amount_fen"]
        assert steps["opening"] + steps.drop(["opening", "closing"]).sum() == steps["closing"]
        assert steps["closing"] == closing["ecl_fen"].sum() and steps["opening"] == opening["ecl_fen"].sum()
        assert (
            steps["new_loans"]
            == closing.set_index("loan_id").loc[[f"L{i:04d}" for i in range(900, 1000)], "ecl_fen"].sum()
        )
        assert steps["repaid"] == -opening.set_index("loan_id").loc[sorted(repaid), "ecl_fen"].sum()
        assert (steps.get("model_change", 0) != 0) == (old is not None)
        assert list(rows["step"]) == list(range(len(rows)))


def test_a_stage_move_is_measured_on_the_new_horizon() -> None:
    opening = pd.DataFrame(
        {"loan_id": ["A"], "stage": [1], "ecl_fen": [100], "ecl_12m_fen": [100], "ecl_lifetime_fen": [400]}
    )
    closing = pd.DataFrame(
        {"loan_id": ["A"], "stage": [2], "ecl_fen": [450], "ecl_12m_fen": [120], "ecl_lifetime_fen": [450]}
    )
    per_loan = loan_movements(opening, closing, set()).set_index("cause")["amount_fen"]
    assert per_loan["stage_transfer"] == 300 and per_loan["remeasurement"] == 50


def test_without_an_opening_book_everything_is_the_first_assessment() -> None:
    closing = book(["A", "B"], np.random.default_rng(1))
    rows = bridge(None, closing, loan_movements(None, closing, set()), date(2025, 1, 31))
    assert list(rows["cause"]) == ["opening", "first_assessment", "closing"]
    assert rows["amount_fen"].iloc[1] == rows["amount_fen"].iloc[2] == closing["ecl_fen"].sum()
