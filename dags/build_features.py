"""Point-in-time firm features: one snapshot per as-of month end, built by firm_id hash shard.

Runs when new verified records land (any of the ingest Assets) and on the 1st of every month
(so ``airflow backfill create --dag-id build_features`` rebuilds past months). A run builds
the snapshot of the last month end on or before its date; the params ``as_of`` and
``through`` (YYYY-MM-DD) build every month end in that range instead. plan -> compact (brings
the feature input store up to date: the verified months those snapshots read that are new
or have changed) -> shard (one task per as-of month and shard) -> merge (per month) ->
publish (the ``features`` Asset).
Configuration (read by the tasks when they run): SMECREDIT_LAKE_URI, SMECREDIT_FEATURE_SHARDS
(default 4; the plan fixes the count for the whole run).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from pipelines.airflow_edge import asset, task_failure_alert

VERIFIED = (
    asset("verified_supply_chain") | asset("verified_social_insurance") | asset("verified_housing_fund")
)


@dag(
    dag_id="build_features",
    description="Point-in-time firm features (trade, receipts and leases, payroll) per as-of month end",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 4 1 * *", timezone="UTC"), assets=VERIFIED
    ),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "features"],
    params={
        "as_of": Param(None, type=["null", "string"], format="date", description="first month end to build"),
        "through": Param(None, type=["null", "string"], format="date", description="last month end to build"),
    },
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": task_failure_alert,
    },
)
def build_features() -> None:
    @task
    def plan(params: dict[str, Any] | None = None, dag_run: Any = None) -> list[dict[str, Any]]:
        from datetime import date

        from pipelines.airflow_edge import settings
        from pipelines.features import month_end_on_or_before, month_ends

        shards = settings().feature_shards
        params = params or {}
        if params.get("as_of"):
            first = date.fromisoformat(params["as_of"])
            last = date.fromisoformat(params.get("through") or params["as_of"])
            months = month_ends(first, last)
        else:
            when = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
            today = when.date() if when is not None else date.today()
            months = [month_end_on_or_before(today)]
        return [{"as_of": m.isoformat(), "k": k, "n": shards} for m in months for k in range(shards)]

    @task
    def compact(jobs: list[dict[str, Any]]) -> dict[str, Any]:
        from datetime import date

        from pipelines.airflow_edge import settings
        from pipelines.features import InputStore
        from pipelines.features.compute import WINDOW

        months = sorted({date.fromisoformat(j["as_of"]) for j in jobs})
        done = InputStore(settings().lake_uri).refresh(months, WINDOW)
        return {"compacted": [f"{source}/{kind}/{m // 12:04d}-{m % 12 + 1:02d}" for source, kind, m in done]}

    @task
    def shard(job: dict[str, Any]) -> str:
        from datetime import date

        from pipelines.airflow_edge import settings
        from pipelines.features import build_shard

        return build_shard(settings().lake_uri, date.fromisoformat(job["as_of"]), job["k"], job["n"])

    @task
    def months_of(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One merge per month, with the shard count its plan used."""
        return [{"as_of": m, "n": n} for m, n in sorted({(j["as_of"], j["n"]) for j in jobs})]

    @task
    def merge(month: dict[str, Any]) -> dict[str, Any]:
        from datetime import date

        from pipelines.airflow_edge import settings
        from pipelines.features import merge_shards

        as_of = month["as_of"]
        uri, rows = merge_shards(settings().lake_uri, date.fromisoformat(as_of), month["n"])
        return {"as_of": as_of, "uri": uri, "rows": rows}

    @task(outlets=[asset("features")])
    def publish(built: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(built[:])  # one request; iterating logs a 404 past the end

    jobs = plan()
    staged = shard.expand(job=jobs)
    compact(jobs) >> staged
    months = months_of(jobs)
    staged >> months
    publish(merge.expand(month=months))


build_features()
