"""One month's assessment of the book: grades, the PD term structure, stages, expected
credit loss with its collateral evidence, the movement bridge from the month before, and
the health of the models; written to ``<lake>/ecl/``, ``<lake>/ecl_movements/`` and
``<lake>/model_monitoring/``. Months are assessed in order: a month's origination grades,
migration history and opening ECL come from the months before it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from models.registry import Loaded
from pipelines.config import Settings
from pipelines.features import month_end_on_or_before
from pipelines.model_keys import model_keys
from pipelines.monitor import read_alerts
from pipelines.portfolio.book import BankBooks, add_months, loans_at, unsecured_recovery_rate
from pipelines.portfolio.collateral import pledged_collateral
from pipelines.portfolio.ecl import expected_loss, scenario_curves, term_pds
from pipelines.portfolio.grades import behaviour_rows, champion, grade_loans
from pipelines.portfolio.health import assess_models, notify_breaches
from pipelines.portfolio.migration import (
    DEFAULT,
    cumulative_default,
    migration_matrix,
    prior_hazard,
    state_of,
    states,
    transition_counts,
)
from pipelines.portfolio.movements import bridge, loan_movements
from pipelines.portfolio.policy import EclParams, Policy
from pipelines.portfolio.staging import assign_stages, open_alerts_at
from pipelines.portfolio.tables import read_month, read_months, write_month
from pipelines.schemas import ECL_SCHEMA


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def migration_at(lake_uri: str, as_of: date, current: pd.DataFrame, params: EclParams) -> np.ndarray:
    """The monthly migration matrix at ``as_of``: transitions between consecutive month ends
    of the ECL history before ``as_of`` and into ``current`` (``loan_id, grade``; ``default`` for
    a defaulted loan). A loan that leaves the book without defaulting is censored."""
    names = states(params.grades, params.delinquency)
    code = {g: i for i, g in enumerate(names)}
    hist = read_months(lake_uri, "ecl", before=as_of, columns=["loan_id", "as_of", "state"])
    hist = pd.concat([hist, current[["loan_id", "state"]].assign(as_of=as_of)], ignore_index=True)
    hist["as_of"] = pd.to_datetime(hist["as_of"]).dt.date
    start, end = [], []
    by_month = {m: g for m, g in hist.groupby("as_of")}
    for m0, g0 in by_month.items():
        g1 = by_month.get(add_months(m0, 1))
        if g1 is None:
            continue
        pairs = g0[g0["state"] != DEFAULT].merge(g1, on="loan_id", suffixes=("_0", "_1"))
        start.extend(pairs["state_0"].map(code))
        end.extend(pairs["state_1"].map(code))
    counts = transition_counts(np.asarray(start, dtype=int), np.asarray(end, dtype=int), len(names))
    hazard = prior_hazard(params.grades, params.delinquency, params.behaviour_horizon_months)
    return migration_matrix(counts, hazard, params.prior_strength)


def _graded(settings: Settings, book: pd.DataFrame, as_of: date, model: Loaded) -> pd.DataFrame:
    running = book[book["status"] != "default"]
    graded = grade_loans(behaviour_rows(settings.lake_uri, running, as_of), model)
    book = book.merge(graded, on="loan_id", how="left")
    book["grade"] = book["grade"].fillna(DEFAULT)
    book["model_id"] = book["model_id"].fillna(model.entry["model_id"])
    return book


def _origination(book: pd.DataFrame, opening: pd.DataFrame | None, as_of: date) -> pd.DataFrame:
    """Carry each loan's grade at origination and first month end over from the month before."""
    book = book.copy()
    book["grade_at_origination"], book["first_month_end"] = book["grade"], as_of
    if opening is not None and len(opening):
        prev = opening.set_index("loan_id")
        known = book["loan_id"].isin(prev.index)
        ids = book.loc[known, "loan_id"]
        book.loc[known, "grade_at_origination"] = prev.loc[ids, "grade_at_origination"].to_numpy()
        book.loc[known, "first_month_end"] = pd.to_datetime(
            prev.loc[ids, "first_month_end"]
        ).dt.date.to_numpy()
    book["months_observed"] = [months_between(d, as_of) for d in book["first_month_end"]]
    return book


def measure(
    settings: Settings,
    policy: Policy,
    books: BankBooks,
    as_of: date,
    model: Loaded,
    opening: pd.DataFrame | None,
) -> pd.DataFrame:
    """The ECL rows of the book at ``as_of`` graded by ``model``."""
    params = policy.ecl
    book = _origination(_graded(settings, loans_at(books, as_of, params), as_of, model), opening, as_of)
    code = {g: i for i, g in enumerate(states(params.grades, params.delinquency)[:-1])}
    book["state"] = state_of(book["grade"], book["dpd"], params.delinquency)
    book["grade_code"] = book["state"].map(code).fillna(-1).astype(int)
    orig = book["grade_at_origination"].map(code).fillna(len(params.grades) - 1).astype(int).to_numpy()
    horizon = int((book["remaining_months"] + book["months_observed"]).max()) + 1 if len(book) else 13
    matrix = migration_at(settings.lake_uri, as_of, book, params)
    curves = scenario_curves(cumulative_default(matrix, max(horizon, 13)), params.scenarios)
    remaining = book["remaining_months"].to_numpy(dtype=int)
    grade_now = np.maximum(book["grade_code"].to_numpy(), 0)
    pd12, life, then = term_pds(
        curves, grade_now, remaining, orig, book["months_observed"].to_numpy(dtype=int)
    )
    defaulted = (book["status"] == "default").to_numpy()
    book["pd_12m"], book["pd_lifetime"] = np.where(defaulted, 1.0, pd12), np.where(defaulted, 1.0, life)
    book["pd_lifetime_at_origination"] = then
    alerts = open_alerts_at(read_alerts(settings.lake_uri), as_of)
    book["open_alerts"] = [alerts.get(k, []) for k in book["loan_id"]]
    book["stage"], book["stage_reason"] = assign_stages(book, policy.staging)
    book = book.merge(pledged_collateral(settings.lake_uri, book, as_of, settings.bank_name), on="loan_id")
    rate, _ = unsecured_recovery_rate(books, as_of, params)
    book["impaired"] = book["stage"] == 3
    loss = expected_loss(book, curves, params, rate)
    book = pd.concat([book, loss], axis=1)
    book["ecl_fen"] = np.where(book["stage"] == 1, book["ecl_12m_fen"], book["ecl_lifetime_fen"])
    book["pd_12m"] = np.where(book["impaired"], 1.0, book["pd_12m"])
    book["pd_lifetime"] = np.where(book["impaired"], 1.0, book["pd_lifetime"])
    book = book.assign(as_of=as_of, ead_fen=book["balance_fen"], recovery_rate=rate)
    return book.rename(columns={"collateral_receipts_pledged": "collateral_receipts_now"}).pipe(_ecl_rows)


def _ecl_rows(book: pd.DataFrame) -> pd.DataFrame:
    book = book.drop(columns=["collateral_receipts"]).rename(
        columns={"collateral_receipts_now": "collateral_receipts"}
    )
    return book[ECL_SCHEMA.names].sort_values("loan_id", ignore_index=True)


def _old_model_closing(
    settings: Settings,
    policy: Policy,
    books: BankBooks,
    as_of: date,
    opening: pd.DataFrame | None,
    model: Loaded,
) -> pd.Series | None:
    """The closing ECL under the opening's grading model, when the model changed since."""
    if opening is None or not len(opening):
        return None
    old = str(opening["model_id"].mode().iloc[0])
    if old == model.entry["model_id"]:
        return None
    try:
        previous = champion(settings.models_uri, old, model_keys(settings))
    except Exception:  # the old model cannot be read: its change stays in remeasurement
        return None
    return measure(settings, policy, books, as_of, previous, opening).set_index("loan_id")["ecl_fen"]


def assess_month(
    settings: Settings, policy: Policy, as_of: date, books: BankBooks | None = None
) -> dict[str, Any]:
    """Assess the book at the month end on or before ``as_of`` and write its tables."""
    as_of = month_end_on_or_before(as_of)
    books = books or BankBooks.read(settings.bank_uri)
    model = champion(settings.models_uri, keys=model_keys(settings))
    opening = read_month(settings.lake_uri, "ecl", add_months(as_of, -1))
    closing = measure(settings, policy, books, as_of, model, opening)
    write_month(settings.lake_uri, "ecl", as_of, closing)
    perf = books.performance
    repaid = set(perf.loc[(perf["month_end"] <= as_of.isoformat()) & (perf["status"] == "repaid"), "loan_id"])
    old = _old_model_closing(settings, policy, books, as_of, opening, model)
    moves = bridge(opening, closing, loan_movements(opening, closing, repaid, old), as_of)
    write_month(settings.lake_uri, "ecl_movements", as_of, moves)
    health = assess_models(settings, policy, books, as_of)
    write_month(settings.lake_uri, "model_monitoring", as_of, health)
    queued = notify_breaches(settings.lake_uri, policy, health, as_of)
    stages = closing["stage"].value_counts().to_dict()
    return {
        "as_of": as_of.isoformat(),
        "loans": len(closing),
        "stage_1": int(stages.get(1, 0)),
        "stage_2": int(stages.get(2, 0)),
        "stage_3": int(stages.get(3, 0)),
        "ecl_fen": int(closing["ecl_fen"].sum()),
        "ead_fen": int(closing["ead_fen"].sum()),
        "breaches": int(health["breach"].sum()) if len(health) else 0,
        "queued_messages": queued,
    }


def assess_months(settings: Settings, policy: Policy, months: Sequence[date]) -> list[dict[str, Any]]:
    """Assess every month end of ``months`` in order, reading the bank's books once."""
    books = BankBooks.read(settings.bank_uri)
    ends = sorted({month_end_on_or_before(m) for m in months})
    return [assess_month(settings, policy, m, books) for m in ends]
