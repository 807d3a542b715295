"""The book at a month end, from the bank's own tables: every loan still on the balance
sheet (running, or defaulted and in recovery until written off), with what the expected
credit loss needs (balance, instalment, remaining months, rate, days past due), and the
unsecured recovery rate realised on past defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipelines.portfolio.policy import EclParams
from pipelines.scoring import ScoringError, read_bank

RECOVERY_COLUMNS = ["loan_id", "month_end", "amount_fen", "source"]


def add_months(d: date, months: int) -> date:
    """The month end ``months`` after the month end ``d`` (negative: before)."""
    y, m = divmod(d.month - 1 + months, 12)
    first_next = date(d.year + y + (m + 1) // 12, (m + 1) % 12 + 1, 1)
    return date.fromordinal(first_next.toordinal() - 1)


@dataclass
class BankBooks:
    """The bank's applications, performance and recoveries, read once per run."""

    applications: pd.DataFrame
    performance: pd.DataFrame
    recoveries: pd.DataFrame

    @classmethod
    def read(cls, bank_uri: str) -> BankBooks:
        apps = read_bank(bank_uri, "applications")
        perf = read_bank(bank_uri, "loan_performance")
        try:
            rec = read_bank(bank_uri, "recoveries")
        except ScoringError:  # a world from before recoveries were booked
            rec = pd.DataFrame(
                {c: pd.Series(dtype="int64" if c == "amount_fen" else object) for c in RECOVERY_COLUMNS}
            )
        perf = perf.assign(month_end=perf["month_end"].astype(str).str[:10])
        rec = rec.assign(month_end=rec["month_end"].astype(str).str[:10])
        return cls(apps, perf, rec)

    def defaults(self) -> pd.DataFrame:
        """One row per defaulted loan: its default month end and balance at default."""
        d = self.performance[self.performance["status"] == "default"]
        return d.sort_values("month_end").drop_duplicates("loan_id")[["loan_id", "month_end", "balance_fen"]]


def loans_at(books: BankBooks, as_of: date, params: EclParams) -> pd.DataFrame:
    """Every loan on the book at the month end ``as_of``: running loans (current or
    delinquent, disbursed by then) and defaulted loans whose recovery is not over (fewer
    than ``write_off_months`` since default and something still owed). ``balance_fen`` is
    what is owed now (for a defaulted loan: the balance at default less recoveries so far)."""
    day = as_of.isoformat()
    apps = books.applications
    cols = [
        "loan_id",
        "firm_id",
        "application_id",
        "amount_fen",
        "term_months",
        "disbursed_on",
        "collateral_receipts",
    ]
    apps = apps.loc[apps["disbursed_on"].notna(), cols + (["annual_rate"] if "annual_rate" in apps else [])]
    perf = books.performance
    now = perf[(perf["month_end"] == day) & perf["status"].isin(["current", "delinquent"])]
    running = now[["loan_id", "balance_fen", "dpd", "status"]].merge(apps, on="loan_id")
    running = running[running["disbursed_on"].astype(str).str[:10] <= day]
    d = books.defaults()
    first = add_months(as_of, -params.write_off_months).isoformat()
    d = d[(d["month_end"] <= day) & (d["month_end"] > first)]
    rec = books.recoveries
    got = rec[rec["month_end"] <= day].groupby("loan_id")["amount_fen"].sum()
    d = d.assign(recovered_fen=d["loan_id"].map(got).fillna(0).astype("int64"))
    d = d.assign(balance_fen=d["balance_fen"] - d["recovered_fen"], dpd=90, status="default")
    d = d[d["balance_fen"] > 0].rename(columns={"month_end": "default_month_end"}).merge(apps, on="loan_id")
    book = pd.concat([running, d], ignore_index=True)
    if "annual_rate" not in book:
        book["annual_rate"] = np.nan
    book["annual_rate"] = book["annual_rate"].fillna(params.default_annual_rate).astype(float)
    book["recovered_fen"] = (
        book.get("recovered_fen", pd.Series(0, index=book.index)).fillna(0).astype("int64")
    )
    book["instalment_fen"] = (book["amount_fen"] / book["term_months"]).astype(float)
    book["remaining_months"] = np.maximum(
        1, np.ceil(book["balance_fen"] / book["instalment_fen"] - 1e-9)
    ).astype(int)
    book["dpd"] = book["dpd"].astype("int64")
    book["balance_fen"] = book["balance_fen"].astype("int64")
    return book.sort_values("loan_id", ignore_index=True)


def unsecured_recovery_rate(books: BankBooks, as_of: date, params: EclParams) -> tuple[float, int]:
    """The share of the unsecured part of defaulted balances recovered, over defaults whose
    recovery window (``write_off_months``) closed by ``as_of``, shrunk towards the prior
    with ``recovery_prior_weight`` pseudo-defaults; returns the rate and the defaults used."""
    d = books.defaults()
    closed = d[d["month_end"] <= add_months(as_of, -params.write_off_months).isoformat()]
    rec = books.recoveries[books.recoveries["month_end"] <= as_of.isoformat()]
    rec = rec[rec["loan_id"].isin(set(closed["loan_id"]))]
    by = rec.pivot_table(index="loan_id", columns="source", values="amount_fen", aggfunc="sum")
    coll, unsec = (
        closed["loan_id"].map(by[s]).astype(float).fillna(0.0).to_numpy()
        if s in by
        else np.zeros(len(closed))
        for s in ("collateral", "unsecured")
    )
    base = np.clip(closed["balance_fen"].to_numpy(dtype=float) - coll, 0, None)
    n = int((base > 0).sum())
    w = params.recovery_prior_weight
    observed = float(unsec.sum() / base.sum()) if base.sum() > 0 else 0.0
    return (n * observed + w * params.unsecured_recovery_prior) / (n + w), n
