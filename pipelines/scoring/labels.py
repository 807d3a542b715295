"""Pre-loan labels: bad = 90+ days past due within 12 months of disbursement, and whether
those 12 months are observed in the bank's loan performance table."""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.calendar import add_months

LABEL_MONTHS = 12
BAD_DPD = 90


def labels(applications: pd.DataFrame, performance: pd.DataFrame) -> pd.DataFrame:
    """Per application: ``bad`` (90+ dpd within 12 months of disbursement) and ``observed``
    (the performance table reaches 12 months after disbursement)."""
    perf = performance.copy()
    perf["month_end"] = pd.to_datetime(perf["month_end"])
    through = perf["month_end"].max() if len(perf) else pd.Timestamp("1970-01-01")
    apps = applications[["application_id", "loan_id", "disbursed_on"]].copy()
    apps["horizon"] = pd.to_datetime(
        [add_months(date.fromisoformat(d), LABEL_MONTHS) for d in apps["disbursed_on"]]
    )
    joined = apps.merge(perf[["loan_id", "month_end", "dpd"]], on="loan_id", how="left")
    within = joined["month_end"] <= joined["horizon"]
    joined["bad_row"] = within & (joined["dpd"] >= BAD_DPD)
    bad = joined.groupby("application_id")["bad_row"].any()
    out = apps[["application_id", "horizon"]].set_index("application_id")
    out["bad"] = bad.reindex(out.index).fillna(False).astype(int)
    out["observed"] = out["horizon"] <= through
    return out.drop(columns="horizon").reset_index()
