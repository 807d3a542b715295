"""Daily: collect new ledger export bundles, verify them, check their quality and land them.

collect (one task per source) -> plan (height order, batches) -> ingest (one task per batch,
in parallel: each bundle is claimed by one task and committed in the shared state store,
docs/state-store.md) -> publish (an Asset per source, so
downstream DAGs run when verified data lands). Configuration: SMECREDIT_LANDING_URI,
SMECREDIT_LAKE_URI, SMECREDIT_TRUST_POLICY, SMECREDIT_INGEST_BATCH (bundles per task),
SMECREDIT_STATE_URI (the state store; required when the lake is remote), read
by the tasks when they run (environment or Airflow Variables). The deadline is part of the
DAG's structure, which the scheduler serialises when it parses this file, so it is a constant
here (DEADLINE_HOURS), not a variable.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback, dag, task

from pipelines.airflow_edge import asset, deadline_missed, task_failure_alert
from pipelines.airflow_fixes import with_testable_deadline
from pipelines.schemas import SOURCES

VERIFIED = {s: asset(f"verified_{s}") for s in SOURCES}
COUNTS = ("lines", "verified", "duplicates", "quarantined")
DEADLINE_HOURS = 30.0  # after the logical date: a day's exports are in by then, with margin


@dag(
    dag_id="ingest_attested_records",
    description="Collect, verify (quorum, chain, Merkle proofs), validate (GX) and land attested records",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "ingest"],
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": task_failure_alert,
    },
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=timedelta(hours=DEADLINE_HOURS),
        callback=SyncCallback(
            deadline_missed,
            kwargs={"dag_id": "ingest_attested_records", "hours": DEADLINE_HOURS},
        ),
    ),
)
def ingest_attested_records() -> None:
    @task
    def collect(source: str) -> list[str]:
        from pipelines.airflow_edge import settings
        from pipelines.ingest import IngestConfig, pending_bundles

        s = settings()
        cfg = IngestConfig(s.landing_uri, s.lake_uri, s.trust_policy, state_uri=s.state_uri)
        return pending_bundles(cfg, [source])

    @task
    def plan(found: list[list[str]]) -> list[list[str]]:
        from pipelines.airflow_edge import settings
        from pipelines.ingest import plan_batches

        # found[:] reads the mapped results in one request; iterating asks for one past the end,
        # which Airflow's client logs as an error (XCom not found, 404) on a successful run.
        return plan_batches([uri for per_source in found[:] for uri in per_source], settings().ingest_batch)

    @task
    def ingest(batch: list[str]) -> dict[str, int]:
        from airflow.sdk.exceptions import AirflowFailException

        from pipelines.airflow_edge import settings
        from pipelines.ingest import IngestConfig, IngestError
        from pipelines.ingest import ingest as run

        s = settings()
        try:
            cfg = IngestConfig(
                s.landing_uri,
                s.lake_uri,
                s.trust_policy,
                max_bundle_bytes=s.max_bundle_bytes,
                state_uri=s.state_uri,
            )
            report = run(cfg, uris=batch)
        except IngestError as exc:
            raise AirflowFailException(str(exc)) from None  # the data will not change on retry
        return {k: sum(int(r[k]) for r in report.rows) for k in COUNTS}

    @task(outlets=list(VERIFIED.values()))
    def publish(counts: list[dict[str, int]]) -> dict[str, int]:
        from airflow.sdk.exceptions import AirflowSkipException

        rows = counts[:]  # one request, no 404 logged past the end (see plan)
        total = {k: sum(c[k] for c in rows) for k in COUNTS}
        if total["verified"] == 0:  # nothing new landed: no Asset event, no downstream run
            raise AirflowSkipException(f"nothing new verified ({total})")
        return total

    publish(ingest.expand(batch=plan(collect.expand(source=list(SOURCES)))))


# `airflow dags test` exits 1 on DAGs with a deadline in Airflow 3.3.2 (apache/airflow#73428):
# see pipelines/airflow_fixes.py. The scheduler keeps the deadline alert.
with_testable_deadline(ingest_attested_records())
