"""The behaviour model: for a running loan, the probability of default (90+ days past due)
within the next ``HORIZON_MONTHS`` months, from the firm's features, the loan's days past due
and its months on book.

Training rows are loan-months: every disbursed loan that is current or delinquent at a month
end of the bank's books, with the feature snapshot of that month end (records sealed by then). A row is
bad when the loan defaults at one of the next ``HORIZON_MONTHS`` month ends, and counts only
when those months are fully observed. The newest share of the rows (by month end) validates
the scorecard out of time; it is registered as the champion of the ``behaviour`` family,
which the post-loan monitor then uses instead of the pre-loan model.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from models.registry import Registry
from models.scorecard import Scorecard
from models.signing import ModelKeys
from pipelines.calendar import DAYS_PER_MONTH, add_months, as_date
from pipelines.features import FEATURE_NAMES
from pipelines.scoring.errors import ScoringError
from pipelines.scoring.inputs import join_features
from pipelines.scoring.training import Sample, read_books, validate_and_register

FAMILY = "behaviour"
HORIZON_MONTHS = 6
LOAN_COLUMNS = ("dpd", "months_on_book")
COLUMNS = (*FEATURE_NAMES, *LOAN_COLUMNS)


def months_on_book(disbursed_on: pd.Series, day: date | pd.Series) -> np.ndarray:
    """Months from disbursement to ``day`` (30.44 days a month)."""
    start = pd.to_datetime(disbursed_on.astype(str).str[:10])
    end = pd.to_datetime(day.astype(str).str[:10]) if isinstance(day, pd.Series) else pd.Timestamp(day)
    months: np.ndarray = ((end - start).dt.days / DAYS_PER_MONTH).to_numpy(dtype=float)
    return months


def loan_months(lake_uri: str, bank_uri: str, horizon: int = HORIZON_MONTHS) -> pd.DataFrame:
    """Every active loan at every month end, with the features of that month end, ``dpd``,
    ``months_on_book``, ``bad`` (default within ``horizon`` months) and ``observed``."""
    apps = read_books(bank_uri, "applications")
    perf = read_books(bank_uri, "loan_performance")
    if perf.empty:
        raise ScoringError("the bank's loan performance table is empty; no loan-months to train on")
    perf = perf.assign(month_end=[as_date(d) for d in perf["month_end"]])
    through = max(perf["month_end"])
    defaults = perf[perf["status"] == "default"].groupby("loan_id")["month_end"].min()
    active = perf[perf["status"].isin(["current", "delinquent"])][["loan_id", "month_end", "dpd"]]
    active = active.merge(
        apps.loc[apps["disbursed_on"].notna(), ["loan_id", "firm_id", "disbursed_on"]], on="loan_id"
    )
    # a loan booked at a month end but disbursed after it is not running yet
    running = [m >= as_date(d) for m, d in zip(active["month_end"], active["disbursed_on"], strict=True)]
    active = active[running]
    if active.empty:
        raise ScoringError("no loan is running at any month end of the bank's books; no loan-months")
    rows = join_features(lake_uri, active.assign(as_of=active["month_end"]))
    rows["dpd"] = rows["dpd"].astype(float)
    rows["months_on_book"] = months_on_book(rows["disbursed_on"], rows["month_end"])
    ends = [add_months(m, horizon) for m in rows["month_end"]]
    default_on = rows["loan_id"].map(defaults)
    rows["bad"] = [
        int(d is not None and not pd.isna(d) and m < d <= e)
        for d, m, e in zip(default_on, rows["month_end"], ends, strict=True)
    ]
    rows["observed"] = [e <= through for e in ends]
    return rows.sort_values(["month_end", "loan_id"], ignore_index=True)


def train_behaviour(
    lake_uri: str,
    bank_uri: str,
    models_uri: str,
    oot_share: float = 0.3,
    min_bads: tuple[int, int] = (20, 5),
    keys: ModelKeys | None = None,
) -> dict[str, Any]:
    """Train, validate out of time and register the behaviour scorecard; its registry entry.

    Raises:
        ScoringError: too few observed loan-months or defaults.
    """
    data = loan_months(lake_uri, bank_uri)
    data = data[data["observed"]].reset_index(drop=True)
    months = sorted(set(data["month_end"]))
    if len(months) < 2:
        raise ScoringError(
            f"behaviour model: {len(months)} month ends with a fully observed {HORIZON_MONTHS}-month "
            "outcome; need at least 2 (one to train on, one out of time)"
        )
    cut_month = months[min(len(months) - 1, max(1, round(len(months) * (1 - oot_share))))]
    train_df, test_df = data[data["month_end"] < cut_month], data[data["month_end"] >= cut_month]
    if train_df["bad"].sum() < min_bads[0] or test_df["bad"].sum() < min_bads[1]:
        raise ScoringError(
            f"behaviour model: too few defaults: {int(train_df['bad'].sum())} in training, "
            f"{int(test_df['bad'].sum())} out of time (need {min_bads[0]} and {min_bads[1]})"
        )
    X_train, y_train = train_df[list(COLUMNS)], train_df["bad"].to_numpy()
    card = Scorecard().fit(X_train, y_train)
    sample = Sample(
        X_train,
        y_train,
        test_df[list(COLUMNS)],
        test_df["bad"].to_numpy(),
        (str(train_df["month_end"].min()), str(train_df["month_end"].max())),
        (str(test_df["month_end"].min()), str(test_df["month_end"].max())),
        min_bads,
    )
    return validate_and_register(
        Registry(models_uri, keys),
        card,
        card,
        FAMILY,
        "champion",
        sample,
        f"behaviour scorecard ({HORIZON_MONTHS}-month PD)",
    )
