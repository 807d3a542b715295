"""Monthly: the book's IFRS 9 stages, expected credit loss and movement bridge, and the
health of the models, for risk managers and the model owner.

Runs at 12:00 on the 1st (after that morning's monitoring of the month's last day), and
whenever the ``alerts`` Asset is updated (the monitor ran: open alerts move loans to the
watch list), assessing the last month end on or before the run's date; the params ``as_of``
and ``through`` assess every month end of a range, in order. assess (writes
``ecl/``, ``ecl_movements/``, ``model_monitoring/``; queues breaches to the model owner) ->
deliver (the outbox, as the monitor delivers it). Policy: SMECREDIT_PORTFOLIO_POLICY or
pipelines/portfolio/policy.json.
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
    dag_id="assess_portfolio",
    description="IFRS 9 stages, expected credit loss with its movements, and model health, per month end",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 12 1 * *", timezone="UTC"), assets=asset("alerts")
    ),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "portfolio"],
    params={
        "as_of": Param(None, type=["null", "string"], format="date", description="first month end to assess"),
        "through": Param(
            None, type=["null", "string"], format="date", description="last month end to assess"
        ),
    },
    default_args={
        "owner": "risk-management",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": task_failure_alert,
    },
)
def assess_portfolio() -> None:
    @task
    def assess(params: dict[str, Any] | None = None, dag_run: Any = None) -> list[dict[str, Any]]:
        from datetime import date

        from pipelines.airflow_edge import settings
        from pipelines.features import month_end_on_or_before, month_ends
        from pipelines.portfolio import Policy, assess_months

        p = params or {}
        if p.get("as_of"):
            first = date.fromisoformat(str(p["as_of"]))
            months = month_ends(first, date.fromisoformat(str(p.get("through") or p["as_of"])))
        else:
            when = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
            months = [month_end_on_or_before(when.date() if when is not None else date.today())]
        s = settings()
        return assess_months(s, Policy.load(s.portfolio_policy or None), months)

    @task
    def deliver(summary: list[dict[str, Any]]) -> dict[str, int]:
        from pipelines.airflow_edge import deliver_outbox

        return deliver_outbox()

    deliver(assess())


assess_portfolio()
