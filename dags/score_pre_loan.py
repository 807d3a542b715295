"""Daily: score the previous day's loan applications with the champion scorecard.

Each application gets PD, score, grade and four reason codes from the features as of the
month end before it; the day's file
``<lake>/scores/pre_loan/applied_month=YYYY-MM/day-YYYY-MM-DD.parquet`` is rewritten whole,
so a rerun never duplicates. The params ``day`` and ``through`` score a range instead
(backfill). Configuration: SMECREDIT_LAKE_URI, SMECREDIT_BANK_URI,
SMECREDIT_MODELS_URI.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from pipelines.airflow_edge import asset, task_failure_alert


@dag(
    dag_id="score_pre_loan",
    description="PD, score, grade and reason codes for new loan applications",
    schedule="0 7 * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "scoring"],
    params={
        "day": Param(None, type=["null", "string"], format="date", description="first day to score"),
        "through": Param(None, type=["null", "string"], format="date", description="last day to score"),
    },
    default_args={
        "owner": "credit-risk",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": task_failure_alert,
    },
)
def score_pre_loan() -> None:
    @task
    def days(params: dict[str, Any] | None = None, dag_run: Any = None) -> list[str]:
        from datetime import date

        from pipelines import steps
        from pipelines.airflow_edge import run_days, settings

        wanted = [date.fromisoformat(d) for d in run_days(params, dag_run)]
        return [d.isoformat() for d in steps.scoring_days(settings(), wanted)]

    @task(outlets=[asset("pre_loan_scores")])
    def score(batch: list[str]) -> int:
        from datetime import date

        from pipelines import steps
        from pipelines.airflow_edge import settings

        return steps.score(settings(), [date.fromisoformat(d) for d in batch])

    score(days())


score_pre_loan()
