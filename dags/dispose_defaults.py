"""When loans default: write each one's evidence pack, a court or a buyer can verify offline.

plan (loans that turned to default by the as-of day and have no pack yet; every one with
``rewrite``) -> write (per batch of loans: the records behind each loan copied byte for byte
from the landing zone, checked, signed with the bank's evidence key, written to
``<lake>/evidence/<loan_id>/`` and ``<loan_id>.zip`` through a temporary folder) -> publish
(``<lake>/evidence/npl_buyer.csv``, one row per defaulted loan). Runs when the monitor
updates the ``alerts`` Asset, and daily; the param ``day`` sets the as-of day (default: the
day before the run). The key: the Airflow connection ``smecredit_evidence_key`` (password:
the Ed25519 PEM), else SMECREDIT_EVIDENCE_KEY. See docs/evidence.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from pipelines.airflow_edge import asset, task_failure_alert

BATCH = 50  # loans per write task: each reads the lake and the landing zone once


@dag(
    dag_id="dispose_defaults",
    description="Evidence packs for defaulted loans, verifiable offline, and the NPL buyer's list",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 10 * * *", timezone="UTC"), assets=asset("alerts")
    ),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "disposal"],
    params={
        "day": Param(None, type=["null", "string"], format="date", description="as-of day"),
        "rewrite": Param(False, type="boolean", description="rewrite every pack, not only missing ones"),
    },
    default_args={
        "owner": "risk-management",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": task_failure_alert,
    },
)
def dispose_defaults() -> None:
    @task
    def plan(params: dict[str, Any] | None = None, dag_run: Any = None) -> list[dict[str, Any]]:
        from datetime import date

        from pipelines.airflow_edge import run_days, settings
        from pipelines.evidence import pending_defaults

        p = params or {}
        as_of = run_days({"day": p.get("day")}, dag_run)[-1]
        loans = pending_defaults(settings(), date.fromisoformat(as_of), bool(p.get("rewrite")))
        return [{"as_of": as_of, "loans": loans[i : i + BATCH]} for i in range(0, len(loans), BATCH)]

    @task(max_active_tis_per_dag=1)
    def write(job: dict[str, Any]) -> list[str]:
        from datetime import date

        from pipelines.airflow_edge import evidence_key, settings
        from pipelines.evidence import load_signing_key, write_loan_packs

        key = load_signing_key(evidence_key())
        return write_loan_packs(settings(), key, date.fromisoformat(job["as_of"]), job["loans"])

    @task(trigger_rule="none_failed")
    def publish(written: Any) -> dict[str, int]:
        from pipelines.airflow_edge import settings
        from pipelines.evidence import write_npl_csv

        npl = write_npl_csv(settings().lake_uri)
        rows = written[:] if written else []  # one request; iterating logs a 404 past the end
        return {"written": sum(len(w) for w in rows), "packs": len(npl)}

    publish(write.expand(job=plan()))


dispose_defaults()
