"""The loans under monitoring: the bank's books read once per run, and the loans active on a day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from pipelines.books import BooksError, read_bank
from pipelines.config import Settings
from pipelines.features import InputStore
from pipelines.features.compute import WINDOW
from pipelines.scoring import read_scores
from pipelines.verified import Reader, VerifiedCache, read_verified


@dataclass
class Books:
    """The bank's tables and the pre-loan scores, read once per run of many days."""

    applications: pd.DataFrame
    performance: pd.DataFrame
    portfolio: pd.DataFrame
    managers: pd.DataFrame
    scores: pd.DataFrame
    read: Reader = read_verified
    """How the verified tables are read: ``read_verified``, or a ``VerifiedCache`` over the
    days of the run so that each table is read from the lake once."""
    inputs: InputStore | None = None
    """The feature input store the day's features are computed from; over many days, one
    that keeps the months it has read."""
    firms: pd.DataFrame = field(default_factory=pd.DataFrame)
    """What the books say of each borrower (``firms``: industry, region), when they keep it."""

    def described(self, loans: pd.DataFrame) -> pd.DataFrame:
        """``loans`` with the borrower's industry and region, where the books have them."""
        keep = [c for c in ("firm_id", "industry", "region") if c in self.firms.columns]
        if "firm_id" not in keep or len(keep) == 1 or not len(loans):
            return loans
        return loans.merge(self.firms[keep].drop_duplicates("firm_id"), on="firm_id", how="left")

    @classmethod
    def read_for(cls, settings: Settings, days: Sequence[date] = ()) -> Books:
        bank = settings.bank_uri
        return cls(
            read_bank(bank, "applications"),
            read_bank(bank, "loan_performance"),
            read_bank(bank, "portfolio"),
            read_bank(bank, "risk_managers"),
            read_scores(settings.lake_uri),
            VerifiedCache(settings.lake_uri, min(days), max(days), lookback_months=WINDOW)
            if len(days) > 1
            else read_verified,
            InputStore(settings.lake_uri, keep=len(days) > 1),
            _optional(bank, "firms"),
        )


def _optional(bank: str, table: str) -> pd.DataFrame:
    """A table of the books that adds detail where a bank keeps it: empty when it does not."""
    try:
        return read_bank(bank, table)
    except BooksError:
        return pd.DataFrame()


def active_loans(books: Books, day: date) -> pd.DataFrame:
    """Loans disbursed by ``day`` and still running at the latest month end on or before it,
    with their manager, collateral, balance and days past due."""
    apps, perf, portfolio = books.applications, books.performance, books.portfolio
    apps = apps[apps["disbursed_on"].astype(str) <= day.isoformat()]
    perf = perf[perf["month_end"].astype(str) <= day.isoformat()]
    latest = perf.sort_values("month_end").drop_duplicates("loan_id", keep="last")
    loans = apps.merge(
        latest[["loan_id", "balance_fen", "dpd", "status", "month_end"]], on="loan_id", how="left"
    )
    loans = loans[~loans["status"].isin(["default", "repaid"])].copy()
    loans["balance_fen"] = loans["balance_fen"].fillna(loans["amount_fen"]).astype("int64")
    loans["dpd"] = loans["dpd"].fillna(0).astype("int64")
    managers = portfolio.drop_duplicates("loan_id", keep="last")[["loan_id", "manager_id"]]
    loans = loans.merge(managers, on="loan_id", how="left")
    loans["manager_id"] = loans["manager_id"].fillna("UNASSIGNED")
    return loans.sort_values("loan_id", ignore_index=True)
