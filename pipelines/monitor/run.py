"""A day of post-loan monitoring, and a run of many days.

A day's run (``monitor_day``):

1. active loans = disbursed by the day and not defaulted or repaid at the latest month end
   of the bank's books on or before it (``loans``);
2. features as of the day (records sealed by its end) for their firms, and the behaviour
   score (``behaviour``);
3. the rule catalogue gives the conditions that hold today, each with severity, figures and
   evidence (``conditions``, ``rules``, ``evidence``);
4. the alerts are updated by them (``alerts``);
5. new and escalated alerts become one digest per risk manager and channel in the outbox
   (``outbox``), each with an idempotency key, so a rerun adds nothing.

An acknowledgement recorded while the day runs is applied before the alerts are written
(``alerts.acknowledged_since``), so a risk manager's ``--ack`` during a run is not lost: the
run reads the alerts, and later writes them, holding the alerts' lock (``alerts_locked``),
which ``acknowledge`` holds throughout, so an acknowledgement is either in what the run read
or recorded after the run began. A run that finds the alerts written by another run since it
read them writes nothing and fails (``alerts.commit_alerts``): run the day again.

Days must be monitored in order: rerunning the last day is idempotent; an earlier day is
refused, because it would rewrite the alerts' history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from pipelines.config import Settings
from pipelines.day_partitions import BEHAVIOUR_SCORES, write_day
from pipelines.features import FEATURE_NAMES, load_inputs
from pipelines.features.compute import compute
from pipelines.monitor.alerts import (
    AlertStatus,
    alerts_locked,
    commit_alerts,
    monitored_through,
    read_alerts,
    update_alerts,
)
from pipelines.monitor.behaviour import behaviour_scores
from pipelines.monitor.conditions import conditions
from pipelines.monitor.errors import MonitorError
from pipelines.monitor.loans import Books, active_loans
from pipelines.monitor.outbox import Outbox, digests
from pipelines.monitor.rules import Catalogue
from pipelines.schemas import BEHAVIOUR_SCHEMA


def monitor_day(
    settings: Settings, day: date, catalogue: Catalogue, webhook_url: str = "", books: Books | None = None
) -> dict[str, Any]:
    """Monitor every active loan on ``day``: behaviour scores, alerts, outbox digests."""
    books = books or Books.read_for(settings)
    with alerts_locked(settings.lake_uri, settings.state_uri):  # no acknowledgement half-written
        started = datetime.now(UTC)
        alerts = read_alerts(settings.lake_uri)
    last = monitored_through(alerts)
    if last is not None and day < last:
        raise MonitorError(
            f"alerts are already monitored through {last}; {day} is earlier and would rewrite their history"
        )
    loans = active_loans(books, day)
    feats = pd.DataFrame(columns=["firm_id", *FEATURE_NAMES, "input_hash"])
    found: list[dict[str, Any]] = []
    if len(loans):
        inputs = load_inputs(settings.lake_uri, day, books.inputs)
        feats, _ = compute(inputs, day, pd.Index(sorted(set(loans["firm_id"]))))
        behaviour = behaviour_scores(settings, books, loans, feats, day)
        table = pa.Table.from_pandas(behaviour, schema=BEHAVIOUR_SCHEMA, preserve_index=False)
        write_day(BEHAVIOUR_SCORES, settings.lake_uri, day, table)
        live = alerts[alerts["status"] != AlertStatus.RESOLVED] if len(alerts) else alerts
        open_alerts = frozenset(zip(live["loan_id"], live["rule"], strict=True)) if len(live) else frozenset()
        found = conditions(settings, books, catalogue, loans, feats, behaviour, day, open_alerts)
    updated, events = update_alerts(alerts, found, day)
    updated = commit_alerts(settings.lake_uri, updated, events, started, last, settings.state_uri)
    steps = {name: str(r["next_step"]) for name, r in catalogue.rules.items()}
    messages = digests(events, books.managers, day, webhook_url, books.described(loans), steps)
    queued = Outbox(settings.lake_uri).add(messages)
    status = updated["status"].value_counts().to_dict() if len(updated) else {}
    return {
        "day": day.isoformat(),
        "active_loans": len(loans),
        "conditions": len(found),
        "new": sum(1 for _, e in events if e == "new"),
        "escalated": sum(1 for _, e in events if e == "escalated"),
        "open": int(status.get(AlertStatus.OPEN, 0)),
        "queued_messages": queued,
    }


def monitor_days(
    settings: Settings, days: Sequence[date], catalogue: Catalogue, webhook_url: str = ""
) -> list[dict[str, Any]]:
    books = Books.read_for(settings, days)
    return [monitor_day(settings, d, catalogue, webhook_url, books) for d in sorted(days)]


def weekly(first: date, last: date) -> list[date]:
    """Every 7th day from ``first`` to ``last`` (a cheaper cadence for backfills)."""
    return [first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)]
