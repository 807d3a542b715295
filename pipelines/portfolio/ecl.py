"""Expected credit loss arithmetic, per loan and macro scenario, weighted over scenarios.

For a running loan in grade ``g`` with ``n`` instalments left, for months k = 1..n:

- ``PD_k`` = C_s(k, g) - C_s(k-1, g): the probability of defaulting in month k, from the
  scenario's cumulative default curve (the migration matrix's powers, hazards scaled by the
  scenario's ``pd_multiplier``);
- ``EAD_k`` = max(0, balance - (k - 1) x instalment): the balance still owed on the repayment
  schedule when month k starts;
- ``LGD_k x EAD_k`` = max(0, EAD_k - collateral x (1 - haircut_s)) x (1 - unsecured recovery
  rate): the pledged receipts (as attested on the chain at the as-of date) cover the first
  part after the haircut, the unsecured rest is recovered at the rate realised on past
  defaults;
- ``DF_k`` = (1 + annual rate / 12) ** -k: discounting at the loan's own rate.

ECL_s = sum over k <= H of PD_k x LGD_k x EAD_k x DF_k with H = min(12, n) (12-month ECL,
stage 1) or n (lifetime, stages 2 and 3); the reported ECL is the weighted sum over the
scenarios. A credit-impaired loan (stage 3) has defaulted: its ECL is the loss given default
on what it owes now, PD 1, in every scenario's haircut.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipelines.portfolio.migration import stressed
from pipelines.portfolio.policy import EclParams, Scenario


def scenario_curves(
    cumulative: np.ndarray, scenarios: Sequence[Scenario]
) -> list[tuple[Scenario, np.ndarray]]:
    return [(s, stressed(cumulative, s.pd_multiplier)) for s in scenarios]


def _at(curve: np.ndarray, months: np.ndarray, grade: np.ndarray) -> np.ndarray:
    return np.asarray(curve[np.minimum(months, curve.shape[0] - 1), grade])


def term_pds(
    curves: list[tuple[Scenario, np.ndarray]],
    grade: np.ndarray,
    remaining: np.ndarray,
    grade_at_origination: np.ndarray,
    months_on_book: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scenario-weighted 12-month PD, lifetime PD for the remaining term, and the lifetime PD
    for the same months as expected at origination: the default probability between months
    ``t`` and ``t + n`` after origination, given survival to ``t``, from the grade then."""
    pd12, life, then = (np.zeros(len(grade)) for _ in range(3))
    for s, curve in curves:
        pd12 += s.weight * _at(curve, np.minimum(12, remaining), grade)
        life += s.weight * _at(curve, remaining, grade)
        start = _at(curve, months_on_book, grade_at_origination)
        end = _at(curve, months_on_book + remaining, grade_at_origination)
        then += s.weight * (end - start) / np.maximum(1 - start, 1e-12)
    return pd12, life, then


def expected_loss(
    loans: pd.DataFrame, curves: list[tuple[Scenario, np.ndarray]], params: EclParams, recovery_rate: float
) -> pd.DataFrame:
    """``lgd, ecl_12m_fen, ecl_lifetime_fen`` for each loan of ``loans`` (``grade_code``,
    ``impaired``, ``balance_fen``, ``instalment_fen``, ``remaining_months``, ``annual_rate``,
    ``collateral_value_fen``); impaired loans get their loss given default as both."""
    n_loans = len(loans)
    remaining = loans["remaining_months"].to_numpy(dtype=int)
    horizon = int(remaining.max()) if n_loans else 1
    k = np.arange(1, horizon + 1)
    balance = loans["balance_fen"].to_numpy(dtype=float)
    ead = np.clip(
        balance[:, None] - (k - 1) * loans["instalment_fen"].to_numpy(dtype=float)[:, None], 0, None
    )
    df = (1 + loans["annual_rate"].to_numpy(dtype=float)[:, None] / 12) ** -k
    life = k <= remaining[:, None]
    first12 = life & (k <= 12)
    grade = np.maximum(loans["grade_code"].to_numpy(dtype=int), 0)
    collateral = loans["collateral_value_fen"].to_numpy(dtype=float)
    e12, elt, lgd, impaired_loss = (np.zeros(n_loans) for _ in range(4))
    for s, curve in curves:
        secured = collateral * (1 - min(1.0, max(0.0, params.collateral_haircut + s.haircut_addon)))
        loss = np.clip(ead - secured[:, None], 0, None) * (1 - recovery_rate)
        cum = curve[np.minimum(np.arange(horizon + 1), curve.shape[0] - 1)][:, grade].T
        el = np.diff(cum, axis=1) * loss * df
        e12 += s.weight * (el * first12).sum(axis=1)
        elt += s.weight * (el * life).sum(axis=1)
        now_loss = np.clip(balance - secured, 0, None) * (1 - recovery_rate)
        lgd += s.weight * np.where(balance > 0, now_loss / np.maximum(balance, 1), 0.0)
        impaired_loss += s.weight * now_loss
    impaired = loans["impaired"].to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "lgd": lgd,
            "ecl_12m_fen": np.rint(np.where(impaired, impaired_loss, e12)).astype("int64"),
            "ecl_lifetime_fen": np.rint(np.where(impaired, impaired_loss, elt)).astype("int64"),
        },
        index=loans.index,
    )
