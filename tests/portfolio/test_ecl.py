"""ECL arithmetic on a hand-computed case, and the migration matrix's properties."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pipelines.portfolio import (
    Policy,
    Scenario,
    cumulative_default,
    expected_loss,
    migration_matrix,
    stressed,
    term_pds,
    transition_counts,
)
from pipelines.portfolio.migration import grade_hazard

PARAMS = replace(Policy.load().ecl, collateral_haircut=0.5)
BASE = Scenario("base", 1.0, 1.0, 0.0)
CURVE = np.array([[0.0], [0.1], [0.19], [0.271]])  # 10% a month, one grade


def loan(**kw: object) -> pd.DataFrame:
    row = {
        "grade_code": 0,
        "impaired": False,
        "balance_fen": 3000,
        "instalment_fen": 1000.0,
        "remaining_months": 3,
        "annual_rate": 0.12,
        "collateral_value_fen": 1000,
    }
    row.update(kw)
    return pd.DataFrame([row])


def test_ecl_of_a_hand_computed_loan() -> None:
    # month 1: PD 0.1 x (3000 - 1000 x 0.5) x (1 - 0.2) / 1.01
    # month 2: PD 0.09 x (2000 - 500) x 0.8 / 1.01^2; month 3: PD 0.081 x (1000 - 500) x 0.8 / 1.01^3
    by_hand = 0.1 * 2000 / 1.01 + 0.09 * 1200 / 1.01**2 + 0.081 * 400 / 1.01**3
    assert by_hand == pytest.approx(335.34, abs=0.01)
    got = expected_loss(loan(), [(BASE, CURVE)], PARAMS, 0.2).iloc[0]
    assert got["ecl_lifetime_fen"] == got["ecl_12m_fen"] == 335
    assert got["lgd"] == pytest.approx(2000 / 3000)
    impaired = expected_loss(loan(impaired=True), [(BASE, CURVE)], PARAMS, 0.2).iloc[0]
    assert impaired["ecl_lifetime_fen"] == impaired["ecl_12m_fen"] == 2000  # PD 1, no discounting


def test_scenarios_are_weighted_and_stress_the_hazard() -> None:
    down = stressed(CURVE, 2.0)
    assert down[:, 0] == pytest.approx([0, 0.19, 0.3439, 0.468559])
    curves = [(Scenario("base", 0.5, 1.0, 0.0), CURVE), (Scenario("downside", 0.5, 2.0, 0.1), down)]
    down_hand = (
        0.19 * (3000 - 400) * 0.8 / 1.01 + 0.1539 * 1600 * 0.8 / 1.01**2 + 0.124659 * 600 * 0.8 / 1.01**3
    )
    base_hand = 0.1 * 2000 / 1.01 + 0.09 * 1200 / 1.01**2 + 0.081 * 400 / 1.01**3
    got = expected_loss(loan(), curves, PARAMS, 0.2).iloc[0]
    assert got["ecl_lifetime_fen"] == round(0.5 * base_hand + 0.5 * down_hand)


def test_twelve_month_ecl_stops_at_twelve_months() -> None:
    curve = 1 - 0.99 ** np.arange(0, 30)[:, None]
    frame = loan(balance_fen=20_000, remaining_months=20, collateral_value_fen=0, annual_rate=0.0)
    got = expected_loss(frame, [(BASE, curve)], PARAMS, 0.0).iloc[0]
    k = np.arange(1, 21)
    el = 0.01 * 0.99 ** (k - 1) * (20_000 - (k - 1) * 1000)
    assert got["ecl_12m_fen"] == round(el[:12].sum()) and got["ecl_lifetime_fen"] == round(el.sum())


def test_term_pds_and_the_lifetime_pd_expected_at_origination() -> None:
    curve = 1 - 0.99 ** np.arange(0, 40)[:, None]
    pd12, life, then = term_pds([(BASE, curve)], np.array([0]), np.array([20]), np.array([0]), np.array([6]))
    assert pd12[0] == pytest.approx(1 - 0.99**12)
    assert life[0] == pytest.approx(1 - 0.99**20)
    assert then[0] == pytest.approx(1 - 0.99**20)  # a constant hazard: the same months ahead


def test_migration_rows_sum_to_one_and_default_is_absorbing() -> None:
    grades = ("A", "B", "C")
    start = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    end = np.array([0, 0, 1, 1, 2, 3, 2, 3, 3, 1])
    counts = transition_counts(start, end, 4)
    assert counts.sum() == 10 and counts[2, 3] == 2
    matrix = migration_matrix(counts, grade_hazard(grades, 6), prior_strength=0.0)
    assert matrix.sum(axis=1) == pytest.approx(np.ones(4))
    assert list(matrix[3]) == [0, 0, 0, 1]
    assert matrix[0] == pytest.approx([2 / 3, 1 / 3, 0, 0]) and matrix[2, 3] == pytest.approx(0.5)
    shrunk = migration_matrix(counts, grade_hazard(grades, 6), prior_strength=20.0)
    assert shrunk.sum(axis=1) == pytest.approx(np.ones(4)) and 0 < shrunk[0, 3] < 0.01
    cum = cumulative_default(shrunk, 24)
    assert (np.diff(cum, axis=0) >= -1e-15).all() and (cum <= 1).all()
    assert cum[12] == pytest.approx(np.linalg.matrix_power(shrunk, 12)[:3, 3])


def test_the_prior_hazard_follows_the_master_scale() -> None:
    h = grade_hazard(Policy.load().ecl.grades, 6)
    assert len(h) == 7 and (np.diff(h) > 0).all() and h[0] < 0.001 < h[-1] < 0.2
