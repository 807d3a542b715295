"""How well staging and the provision do, against what happened afterwards (for the report,
``benchmarks/quality.py`` and the docs):

- staging effectiveness: of the loans that defaulted, the share that were in stage 2 or 3 at
  the month end three months before their default (and the share in stage 2 or 3 at any
  month end at least three months before); and the share of performing loans (stages 1 and 2)
  in stage 2, per month;
- the back-test: at each month end, the 12-month ECL of the performing book (stages 1 and 2,
  12-month horizon whatever the stage) against the loss realised on those loans over the next
  12 months: the balance at default less the recoveries booked since (to the end of the
  books; a recovery still under way counts only what came in, so the last months' losses
  are overstated: ``loss_recovering_fen`` is the part of the loss whose recovery window,
  ``recovery_months`` after default, was still open at the end of the books), for months
  whose 12 months are observed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipelines.portfolio.book import BankBooks, add_months


def _dates(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(as_of=pd.to_datetime(frame["as_of"]).dt.date)


def staging_effectiveness(ecl: pd.DataFrame, books: BankBooks, lead_months: int = 3) -> dict[str, Any]:
    """Figures of staging over the assessed months (``ecl``: every month's ECL rows)."""
    ecl = _dates(ecl)
    assessed = set(ecl["as_of"])
    d = books.defaults()
    d = d.assign(default_on=pd.to_datetime(d["month_end"]).dt.date)
    d = d.assign(lead=[add_months(m, -lead_months) for m in d["default_on"]])
    d = d[d["lead"].isin(assessed)]
    at_lead = d.merge(
        ecl[["loan_id", "as_of", "stage"]], left_on=["loan_id", "lead"], right_on=["loan_id", "as_of"]
    )
    early = ecl[ecl["loan_id"].isin(set(d["loan_id"]))].merge(d[["loan_id", "lead"]], on="loan_id")
    flagged_by = early[(early["as_of"] <= early["lead"]) & (early["stage"] >= 2)]["loan_id"].nunique()
    performing = ecl[ecl["stage"] < 3]
    share2 = performing.groupby("as_of")["stage"].apply(lambda s: float((s == 2).mean()))
    return {
        "defaults_scored": len(at_lead),
        "in_stage_2_or_3_three_months_before": float((at_lead["stage"] >= 2).mean())
        if len(at_lead)
        else float("nan"),
        "ever_in_stage_2_or_3_by_three_months_before": flagged_by / len(at_lead)
        if len(at_lead)
        else float("nan"),
        "stage_2_share_of_performing_mean": float(share2.mean()) if len(share2) else float("nan"),
        "stage_2_share_of_performing_max": float(share2.max()) if len(share2) else float("nan"),
        "stage_reasons": ecl["stage_reason"].value_counts().to_dict(),
    }


BACKTEST_COLUMNS = ["as_of", "loans", "ecl_12m_fen", "defaults", "realised_loss_fen", "loss_recovering_fen",
                    "ratio"]  # fmt: skip


def backtest(
    ecl: pd.DataFrame, books: BankBooks, horizon: int = 12, recovery_months: int = 12
) -> pd.DataFrame:
    """Per month end whose next ``horizon`` months are in the books: the performing book's
    12-month ECL, the loss realised, and their ratio."""
    ecl = _dates(ecl)
    last = max(pd.to_datetime(books.performance["month_end"]).dt.date)
    d = books.defaults().assign(default_on=lambda f: pd.to_datetime(f["month_end"]).dt.date)
    got = books.recoveries.groupby("loan_id")["amount_fen"].sum()
    d = d.assign(loss=(d["balance_fen"] - d["loan_id"].map(got).fillna(0)).clip(lower=0)).set_index("loan_id")
    d["open"] = [add_months(m, recovery_months) > last for m in d["default_on"]]
    rows = []
    for as_of, book in ecl[ecl["stage"] < 3].groupby("as_of"):
        end = add_months(as_of, horizon)
        if end > last:
            continue
        hit = d[d.index.isin(set(book["loan_id"])) & (d["default_on"] > as_of) & (d["default_on"] <= end)]
        ecl12 = float(book["ecl_12m_fen"].sum())
        loss, open_loss = float(hit["loss"].sum()), float(hit.loc[hit["open"], "loss"].sum())
        rows.append({"as_of": as_of, "loans": len(book), "ecl_12m_fen": ecl12, "defaults": len(hit),
                     "realised_loss_fen": loss, "loss_recovering_fen": open_loss,
                     "ratio": ecl12 / loss if loss > 0 else np.nan})  # fmt: skip
    return pd.DataFrame(rows, columns=BACKTEST_COLUMNS)
