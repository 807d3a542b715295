"""Daily: review the previous day's scored applications against the chain and decide.

Each application's collateral, receivables, trade, trade cycles, headcount and data
freshness are checked against the attested records sealed by the end of its application
day; the rule table (SMECREDIT_REVIEW_RULES, default pipelines/review/rules.json) turns the
pre-loan grade and the checks into approve, refer or decline. The day's partition
``<lake>/reviews/in_loan/applied_month=YYYY-MM/day-YYYY-MM-DD.parquet`` is rewritten whole. Runs after
score_pre_loan (its Asset) and daily; the params ``day``/``through`` review a range.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from pipelines.airflow_edge import asset, task_failure_alert


@dag(
    dag_id="review_in_loan",
    description="Check applications' collateral, receivables, trade and headcount against the chain; decide",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 8 * * *", timezone="UTC"), assets=asset("pre_loan_scores")
    ),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "review"],
    params={
        "day": Param(None, type=["null", "string"], format="date", description="first day to review"),
        "through": Param(None, type=["null", "string"], format="date", description="last day to review"),
    },
    default_args={
        "owner": "credit-risk",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": task_failure_alert,
    },
)
def review_in_loan() -> None:
    @task(outlets=[asset("in_loan_reviews")])
    def review(params: dict[str, Any] | None = None, dag_run: Any = None) -> dict[str, int]:
        from datetime import date

        from pipelines import steps
        from pipelines.airflow_edge import run_days, settings

        return steps.review(settings(), [date.fromisoformat(d) for d in run_days(params, dag_run)])

    review()


review_in_loan()
