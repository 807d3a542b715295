"""Train the pre-loan scorecard (champion) and its challenger, and the behaviour scorecard
(6-month PD of a running loan, used by the post-loan monitor), validate them out of time and
register them with their reports.

Monthly (the 2nd, after the month's feature snapshot) or by hand. Training data: the bank's
applications with a fully observed 12-month outcome, each with the features as of the month
end before it; the newest ``oot_share`` of them is the out-of-time sample. Behaviour: every
active loan at every month end whose next 6 months are observed (``pipelines.scoring.
behaviour``); too few defaults for it skips the task and the monitor keeps using the pre-loan
model. Configuration:
SMECREDIT_LAKE_URI, SMECREDIT_BANK_URI, SMECREDIT_MODELS_URI (default <lake>/models).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from pipelines.airflow_edge import asset, task_failure_alert
from pipelines.steps import TRAIN_DEFAULTS


@dag(
    dag_id="train_models",
    description="Train, validate (out of time) and register the pre-loan and behaviour models",
    schedule="0 6 2 * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "models"],
    params={
        "oot_share": Param(TRAIN_DEFAULTS["oot_share"], type="number", minimum=0.1, maximum=0.5),
        "min_bads_train": Param(TRAIN_DEFAULTS["min_bads_train"], type="integer", minimum=1),
        "min_bads_oot": Param(TRAIN_DEFAULTS["min_bads_oot"], type="integer", minimum=1),
    },
    default_args={
        "owner": "credit-risk",
        "retries": 1,
        "retry_delay": timedelta(minutes=10),
        "on_failure_callback": task_failure_alert,
    },
)
def train_models() -> None:
    @task(outlets=[asset("models")])
    def train(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from pipelines import steps
        from pipelines.airflow_edge import settings
        from pipelines.scoring import ScoringError

        try:
            return steps.train(settings(), params)
        except ScoringError as exc:
            raise AirflowFailException(str(exc)) from None  # more retries will not add defaults

    @task(outlets=[asset("models")])
    def train_behaviour(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from pipelines import steps
        from pipelines.airflow_edge import settings
        from pipelines.scoring import ScoringError

        try:
            return steps.train_behaviour(settings(), params)
        except ScoringError as exc:
            raise AirflowSkipException(str(exc)) from None  # the monitor keeps the pre-loan model

    train() >> train_behaviour()


train_models()
