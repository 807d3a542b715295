"""The train, score, review and monitor steps as a DAG task and the ``smecredit`` command both
run them: the params with their defaults and checks, and the library calls, so that a step
writes the same tables with or without a scheduler (``dags/train_models.py``,
``score_pre_loan.py``, ``review_in_loan.py``, ``monitor_post_loan.py``; ``smecredit train``,
``score``, ``review``, ``monitor``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from pipelines.config import Settings
from pipelines.errors import SmecreditError

TRAIN_DEFAULTS: dict[str, Any] = {"oot_share": 0.3, "min_bads_train": 20, "min_bads_oot": 5}
"""``train_models``' params and their defaults (the standard thresholds of pipelines.sizing)."""
OOT_SHARE_RANGE = (0.1, 0.5)


class StepError(SmecreditError):
    """A step's param is out of range; the message names it."""


def days_from(first: date, last: date | None = None) -> list[date]:
    """Every day from ``first`` through ``last`` (default ``first``).

    Raises:
        StepError: ``last`` is before ``first``.
    """
    last = last or first
    if last < first:
        raise StepError(f"through ({last}) is before day ({first})")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def training_params(params: dict[str, Any] | None) -> tuple[float, tuple[int, int]]:
    """``oot_share`` and ``min_bads`` (training, out of time) from a run's params, defaults
    filled in and checked.

    Raises:
        StepError: ``oot_share`` outside 0.1-0.5, or a threshold below 1.
    """
    p = {**TRAIN_DEFAULTS, **{k: v for k, v in (params or {}).items() if v is not None}}
    oot_share, min_bads = float(p["oot_share"]), (int(p["min_bads_train"]), int(p["min_bads_oot"]))
    if not OOT_SHARE_RANGE[0] <= oot_share <= OOT_SHARE_RANGE[1]:
        raise StepError(f"oot_share {oot_share} is outside {OOT_SHARE_RANGE[0]} to {OOT_SHARE_RANGE[1]}")
    if min(min_bads) < 1:
        raise StepError(f"min_bads_train and min_bads_oot must be at least 1, got {min_bads}")
    return oot_share, min_bads


def train(settings: Settings, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, validate out of time and register the pre-loan scorecard and its challenger; what
    the ``train`` task returns.

    Raises:
        ScoringError: too few defaults, or no labelled application.
    """
    from pipelines.model_keys import model_keys
    from pipelines.scoring import train as run

    oot_share, min_bads = training_params(params)
    s = settings
    result = run(s.lake_uri, s.bank_uri, s.models_uri, oot_share, min_bads, model_keys(s))
    return {
        "champion": result.champion["model_id"],
        "challenger": result.challenger["model_id"],
        "oot_auc": result.champion["metrics"]["auc"],
        "challenger_oot_auc": result.challenger["metrics"]["auc"],
        "train_rows": result.train_rows,
        "oot_rows": result.test_rows,
        "thin_data": bool(result.champion["metrics"].get("thin_data")),
    }


def train_behaviour(settings: Settings, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, validate and register the behaviour scorecard; what the ``train_behaviour`` task
    returns.

    Raises:
        ScoringError: too few observed loan-months or defaults (the monitor then keeps
            using the pre-loan model).
    """
    from pipelines.model_keys import model_keys
    from pipelines.scoring.behaviour import train_behaviour as run

    oot_share, min_bads = training_params(params)
    s = settings
    entry = run(s.lake_uri, s.bank_uri, s.models_uri, oot_share, min_bads, model_keys(s))
    return {"behaviour": entry["model_id"], "oot_auc": entry["metrics"]["auc"]}


def scoring_days(settings: Settings, wanted: Sequence[date]) -> list[date]:
    """The days of ``wanted``'s range with applications (the last day when none has any, so
    that its empty partition is written)."""
    from pipelines.scoring import application_days

    return application_days(settings.bank_uri, wanted[0], wanted[-1]) or [wanted[-1]]


def score(settings: Settings, days: Sequence[date]) -> int:
    """Score ``days``' applications with the champion; how many were scored."""
    from pipelines.model_keys import model_keys
    from pipelines.scoring import score_days

    s = settings
    return sum(score_days(s.lake_uri, s.bank_uri, s.models_uri, list(days), model_keys(s)).values())


def review(settings: Settings, days: Sequence[date]) -> dict[str, int]:
    """Review ``days``' scored applications against the chain and decide."""
    from pipelines.review import run

    return run(settings, [d.isoformat() for d in days])


def monitor_days_of(days: Sequence[date], every_days: int = 1) -> list[date]:
    """Every ``every_days``-th day of ``days``, and always the last one.

    Raises:
        StepError: ``every_days`` below 1.
    """
    if every_days < 1:
        raise StepError(f"every_days must be at least 1, got {every_days}")
    return sorted(set(days[::every_days]) | {days[-1]})


def monitor(settings: Settings, days: Sequence[date], every_days: int = 1) -> list[dict[str, Any]]:
    """Behaviour scores, the alert lifecycle and the outbox for ``days`` (thinned by
    ``every_days``); one summary per day monitored."""
    from pipelines.monitor import Catalogue, monitor_days

    catalogue = Catalogue.load(settings.monitor_rules or None)
    return monitor_days(settings, monitor_days_of(days, every_days), catalogue, settings.webhook_url)
