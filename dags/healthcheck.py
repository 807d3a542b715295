"""Checks every hour that the lake root is writable, so broken storage shows up before ingest."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from pipelines.airflow_edge import task_failure_alert


@dag(
    dag_id="healthcheck",
    description="Probe that the lake root (SMECREDIT_LAKE_URI) accepts an atomic write",
    schedule="@hourly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "ops"],
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "on_failure_callback": task_failure_alert,
    },
)
def healthcheck() -> None:
    @task
    def lake_writable() -> dict[str, str]:
        from pipelines.airflow_edge import settings
        from pipelines.lake import check_writable

        return check_writable(settings().lake_uri)

    lake_writable()


healthcheck()
