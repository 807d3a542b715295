"""Daily: rescore active loans, raise early-warning alerts, deliver digests to risk managers.

monitor (behaviour scores, alert lifecycle, outbox; the params ``day``/``through`` run a
range in order, ``every_days`` thins it for backfills) -> deliver (email through the Airflow
connection ``smtp_default``, HMAC-signed webhook to SMECREDIT_WEBHOOK_URL with the key
SMECREDIT_WEBHOOK_KEY). Delivery marks a message sent only once the server accepted it;
what failed stays pending with a backoff (SMECREDIT_DELIVERY_BACKOFF_SECONDS) and the task
fails, so Airflow retries it and the failure is seen. Rules: SMECREDIT_MONITOR_RULES or
pipelines/monitor/rules.json.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from pipelines.airflow_edge import asset, task_failure_alert


@dag(
    dag_id="monitor_post_loan",
    description="Behaviour scores and early-warning alerts for active loans, delivered to risk managers",
    schedule="0 9 * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "monitoring"],
    params={
        "day": Param(None, type=["null", "string"], format="date", description="first day to monitor"),
        "through": Param(None, type=["null", "string"], format="date", description="last day to monitor"),
        "every_days": Param(1, type="integer", minimum=1, description="monitor every n-th day of the range"),
    },
    default_args={
        "owner": "risk-management",
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "on_failure_callback": task_failure_alert,
    },
)
def monitor_post_loan() -> None:
    @task(outlets=[asset("alerts")])
    def monitor(params: dict[str, Any] | None = None, dag_run: Any = None) -> list[dict[str, Any]]:
        from datetime import date

        from pipelines import steps
        from pipelines.airflow_edge import run_days, settings

        p = params or {}
        days = [date.fromisoformat(d) for d in run_days(p, dag_run)]
        return steps.monitor(settings(), days, int(p.get("every_days") or 1))

    @task
    def deliver(summary: list[dict[str, Any]]) -> dict[str, int]:
        from pipelines.airflow_edge import deliver_outbox

        return deliver_outbox()

    deliver(monitor())


monitor_post_loan()
