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


def _training_args(params: dict[str, Any] | None) -> tuple[tuple[str, str, str], dict[str, Any]]:
    """The lake, bank and models URIs, and the training parameters (with the model-signing
    key), of this run."""
    from pipelines.airflow_edge import settings
    from pipelines.model_keys import model_keys

    p, s = params or {}, settings()
    return (s.lake_uri, s.bank_uri, s.models_uri), {
        "keys": model_keys(s),
        "oot_share": float(p.get("oot_share", 0.3)),
        "min_bads": (int(p.get("min_bads_train", 20)), int(p.get("min_bads_oot", 5))),
    }


@dag(
    dag_id="train_models",
    description="Train, validate (out of time) and register the pre-loan and behaviour models",
    schedule="0 6 2 * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smecredit", "models"],
    params={
        "oot_share": Param(0.3, type="number", minimum=0.1, maximum=0.5),
        "min_bads_train": Param(20, type="integer", minimum=1),
        "min_bads_oot": Param(5, type="integer", minimum=1),
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

        from pipelines.scoring import ScoringError
        from pipelines.scoring import train as run

        uris, kwargs = _training_args(params)
        try:
            result = run(*uris, **kwargs)
        except ScoringError as exc:
            raise AirflowFailException(str(exc)) from None  # more retries will not add defaults
        return {
            "champion": result.champion["model_id"],
            "challenger": result.challenger["model_id"],
            "oot_auc": result.champion["metrics"]["auc"],
            "challenger_oot_auc": result.challenger["metrics"]["auc"],
            "train_rows": result.train_rows,
            "oot_rows": result.test_rows,
        }

    @task(outlets=[asset("models")])
    def train_behaviour(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from pipelines.scoring import ScoringError
        from pipelines.scoring.behaviour import train_behaviour as run

        uris, kwargs = _training_args(params)
        try:
            entry = run(*uris, **kwargs)
        except ScoringError as exc:
            raise AirflowSkipException(str(exc)) from None  # the monitor keeps the pre-loan model
        return {"behaviour": entry["model_id"], "oot_auc": entry["metrics"]["auc"]}

    train() >> train_behaviour()


train_models()
