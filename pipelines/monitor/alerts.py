"""The alert table and its lifecycle: ``<lake>/alerts/alerts.parquet``.

An alert is keyed by (loan, rule). A condition that holds on a day opens one
(``open``); while it holds, the alert is updated, and escalated when its severity rises
(an acknowledged alert then reopens: an escalation needs a new acknowledgement); when it no
longer holds, or the loan is no longer active, the alert is ``resolved``. A risk manager
acknowledges an open alert (``acknowledged``), which holds until it escalates.

Every acknowledgement is kept, who, when and with what note, in
``<lake>/alerts/acknowledgements.parquet`` (appended to, never rewritten row by row); the
alert table carries the last one.

Both tables are read, changed and written back by whole files, by the monitor and by
``acknowledge``: each holds the alerts' lock (``alerts_locked``, a lock of the state store
that dies with its holder) while it does, so that no acknowledgement is lost.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.calendar import as_date
from pipelines.lake import filesystem, write_parquet
from pipelines.ledger_state import StateStore, state_uri
from pipelines.monitor.errors import MonitorError
from pipelines.schemas import ACKNOWLEDGEMENT_SCHEMA, ALERT_SCHEMA

SEVERITIES = ("info", "warning", "critical")
"""Alert severities, from least to most severe: the one place their order is written."""


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


STATUSES = tuple(s.value for s in AlertStatus)


def severity_rank(severity: str) -> int:
    """The place of ``severity`` in ``SEVERITIES`` (higher is more severe)."""
    return SEVERITIES.index(severity)


def alerts_uri(lake_uri: str) -> str:
    return f"{lake_uri.rstrip('/')}/alerts/alerts.parquet"


def read_empty() -> pd.DataFrame:
    return ALERT_SCHEMA.empty_table().to_pandas()


def acknowledgements_uri(lake_uri: str) -> str:
    return f"{lake_uri.rstrip('/')}/alerts/acknowledgements.parquet"


def _read(uri: str, schema: pa.Schema) -> pd.DataFrame:
    """The one-file table at ``uri`` in ``schema``'s columns (a column added to the schema
    since the file was written reads as empty); an empty table when there is no file."""
    fs, path = filesystem(uri)
    if not fs.exists(path):
        return schema.empty_table().to_pandas()
    frame = pq.read_table(io.BytesIO(fs.cat_file(path))).to_pandas()
    for name in schema.names:
        if name not in frame.columns:
            frame[name] = None
    return frame[schema.names]


@contextmanager
def alerts_locked(lake_uri: str, state: str = "") -> Iterator[None]:
    """Hold the lock of the lake's alert tables (the state store's, ``state`` or the local
    lake's default: ``SMECREDIT_STATE_URI``), waiting for it.

    Raises:
        ConfigError: the lake is remote and no state store is configured.
    """
    with StateStore(state_uri(lake_uri, state)) as store, store.named_lock("alerts"):
        yield


def read_alerts(lake_uri: str) -> pd.DataFrame:
    return _read(alerts_uri(lake_uri), ALERT_SCHEMA)


def read_acknowledgements(lake_uri: str) -> pd.DataFrame:
    """Every acknowledgement, oldest first: who acknowledged which alert, when, with what note."""
    return _read(acknowledgements_uri(lake_uri), ACKNOWLEDGEMENT_SCHEMA)


def write_alerts(lake_uri: str, alerts: pd.DataFrame) -> None:
    """Write the alert table (an optional column the frame lacks, as written before it was
    added, is written empty)."""
    missing = {f.name: None for f in ALERT_SCHEMA if f.nullable and f.name not in alerts.columns}
    ordered = alerts.assign(**missing).sort_values(["opened_on", "alert_id"])
    table = pa.Table.from_pandas(ordered, schema=ALERT_SCHEMA, preserve_index=False)
    write_parquet(alerts_uri(lake_uri), table)


def alert_id(loan_id: str, rule: str, opened_on: date) -> str:
    return hashlib.sha256(f"{loan_id}|{rule}|{opened_on.isoformat()}".encode()).hexdigest()[:20]


def _still_holds(
    row: dict[str, Any], c: dict[str, Any], day: date, events: list[tuple[dict[str, Any], str]]
) -> None:
    """A condition that holds for the live alert ``row``: update it once a day, escalate it
    when the severity rises, and report the day's event again when the day is rerun."""
    figures = json.dumps(c["figures"], sort_keys=True, default=str)
    evidence = json.dumps(c.get("evidence", []), sort_keys=True)
    worse = severity_rank(c["severity"]) > severity_rank(row["severity"])
    if as_date(row["updated_on"]) < day or worse:
        if worse:
            row["severity"], row["escalated_on"] = c["severity"], day
            if row["status"] == AlertStatus.ACKNOWLEDGED:
                row["status"] = AlertStatus.OPEN.value  # an escalation needs a new acknowledgement
            events.append((row, "escalated"))
        row["updated_on"], row["figures"], row["evidence"] = day, figures, evidence
        row["description"] = c["description"]
    elif as_date(row["escalated_on"] or date.min) == day:
        events.append((row, "escalated"))
    elif as_date(row["opened_on"]) == day:
        events.append((row, "new"))


def _opened(c: dict[str, Any], day: date) -> dict[str, Any]:
    """A new alert for the condition ``c`` on ``day``."""
    return {
        "alert_id": alert_id(c["loan_id"], c["rule"], day),
        "loan_id": c["loan_id"],
        "firm_id": c["firm_id"],
        "manager_id": c["manager_id"],
        "rule": c["rule"],
        "severity": c["severity"],
        "status": AlertStatus.OPEN.value,
        "opened_on": day,
        "updated_on": day,
        "escalated_on": None,
        "resolved_on": None,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "acknowledgement_note": None,
        "description": c["description"],
        "figures": json.dumps(c["figures"], sort_keys=True, default=str),
        "evidence": json.dumps(c.get("evidence", []), sort_keys=True),
    }


def update_alerts(
    alerts: pd.DataFrame, found: Sequence[dict[str, Any]], day: date, active: set[str] | None = None
) -> tuple[pd.DataFrame, list[tuple[dict[str, Any], str]]]:
    """Apply one day's conditions to the alerts; return the alerts and the day's events
    (``new`` or ``escalated``) to deliver. Open alerts of loans that are no longer active,
    or whose condition no longer holds, are resolved."""
    rows = {r["alert_id"]: dict(r) for r in alerts.to_dict("records")}
    live = {(r["loan_id"], r["rule"]): aid for aid, r in rows.items() if r["status"] != AlertStatus.RESOLVED}
    events: list[tuple[dict[str, Any], str]] = []
    seen: set[str] = set()
    for c in found:
        key = (c["loan_id"], c["rule"])
        if key in live:
            seen.add(live[key])
            _still_holds(rows[live[key]], c, day, events)
            continue
        row = _opened(c, day)
        rows[row["alert_id"]] = row
        seen.add(row["alert_id"])
        events.append((row, "new"))
    for aid, row in rows.items():
        if row["status"] != AlertStatus.RESOLVED and aid not in seen and as_date(row["opened_on"]) <= day:
            row["status"], row["resolved_on"], row["updated_on"] = AlertStatus.RESOLVED.value, day, day
    frame = pd.DataFrame(list(rows.values()), columns=ALERT_SCHEMA.names) if rows else read_empty()
    return frame, events


def acknowledged_since(
    alerts: pd.DataFrame,
    history: pd.DataFrame,
    since: datetime,
    events: Sequence[tuple[dict[str, Any], str]] = (),
) -> pd.DataFrame:
    """``alerts`` with the acknowledgements recorded at or after ``since`` applied: what a
    monitoring run that read the alerts at ``since`` does before writing them, so that an
    acknowledgement made while it ran is not overwritten. An alert the run resolved stays
    resolved, and one it escalated stays open (the escalation needs a new acknowledgement)."""
    late = history[pd.to_datetime(history["acknowledged_at"], utc=True) >= pd.Timestamp(since)]
    if late.empty or alerts.empty:
        return alerts
    escalated = {str(a["alert_id"]) for a, e in events if e == "escalated"}
    out = alerts.copy()
    for ack in late.drop_duplicates("alert_id", keep="last").itertuples(index=False):
        match = (out["alert_id"] == ack.alert_id) & (out["status"] != AlertStatus.RESOLVED)
        if ack.alert_id in escalated or not match.any():
            continue
        out.loc[match, "status"] = AlertStatus.ACKNOWLEDGED.value
        out.loc[match, "acknowledged_by"] = ack.acknowledged_by
        out.loc[match, "acknowledged_at"] = ack.acknowledged_at
        out.loc[match, "acknowledgement_note"] = ack.note
    return out


def monitored_through(alerts: pd.DataFrame) -> date | None:
    """The last day a monitoring run updated ``alerts`` (None: no alert yet). Acknowledgements
    do not move it."""
    return max(as_date(d) for d in alerts["updated_on"]) if len(alerts) else None


def commit_alerts(
    lake_uri: str,
    alerts: pd.DataFrame,
    events: Sequence[tuple[dict[str, Any], str]],
    started: datetime,
    seen: date | None,
    state: str = "",
) -> pd.DataFrame:
    """Write a monitoring run's ``alerts`` holding the alerts' lock, with the acknowledgements
    recorded since the run ``started`` applied (``acknowledged_since``); what was written.

    Raises:
        MonitorError: another run wrote the alerts since this one read them (they are now
            monitored through another day than ``seen``); nothing is written.
    """
    with alerts_locked(lake_uri, state):
        now = monitored_through(read_alerts(lake_uri))
        if now != seen:
            raise MonitorError(
                f"another monitoring run wrote the alerts while this one ran (monitored through "
                f"{now}, not {seen} as read); nothing written: run the day again"
            )
        out = acknowledged_since(alerts, read_acknowledgements(lake_uri), started, events)
        write_alerts(lake_uri, out)
    return out


def acknowledge(
    lake_uri: str,
    alert: str,
    by: str,
    note: str | None = None,
    at: datetime | None = None,
    state: str = "",
) -> dict[str, Any]:
    """Record that ``by`` acknowledged the open alert ``alert`` (with ``note``): a new row of
    the acknowledgement history, and the alert ``acknowledged`` with this as its last one.
    Acknowledging again (another person, or the same after an escalation) adds a row. Holds
    the alerts' lock (``alerts_locked``, with the state store ``state``) throughout.

    Raises:
        MonitorError: no name in ``by``, no such alert, or it is resolved.
    """
    by = (by or "").strip()
    if not by:
        raise MonitorError("an acknowledgement needs the name of who acknowledges (--by NAME)")
    with alerts_locked(lake_uri, state):
        return _acknowledge(lake_uri, alert, by, (note or "").strip() or None, at or datetime.now(UTC))


def _acknowledge(lake_uri: str, alert: str, by: str, note: str | None, at: datetime) -> dict[str, Any]:
    alerts = read_alerts(lake_uri)
    match = alerts["alert_id"] == alert
    if not match.any():
        raise MonitorError(f"no alert {alert}")
    row = alerts[match].iloc[0]
    if row["status"] == AlertStatus.RESOLVED:
        raise MonitorError(f"alert {alert} resolved on {row['resolved_on']}; nothing to acknowledge")
    history = read_acknowledgements(lake_uri)
    entry = pd.DataFrame(
        [
            {
                "alert_id": alert,
                "loan_id": row["loan_id"],
                "rule": row["rule"],
                "severity": row["severity"],
                "acknowledged_by": by,
                "acknowledged_at": at,
                "note": note,
            }
        ],
        columns=ACKNOWLEDGEMENT_SCHEMA.names,
    )
    history = pd.concat([history, entry], ignore_index=True) if len(history) else entry
    write_parquet(
        acknowledgements_uri(lake_uri),
        pa.Table.from_pandas(history, schema=ACKNOWLEDGEMENT_SCHEMA, preserve_index=False),
    )
    alerts.loc[match, "status"] = AlertStatus.ACKNOWLEDGED.value
    alerts.loc[match, "acknowledged_by"] = by
    alerts.loc[match, "acknowledged_at"] = at
    alerts.loc[match, "acknowledgement_note"] = note
    write_alerts(lake_uri, alerts)
    return {**dict(alerts[match].iloc[0]), "acknowledgements": int((history["alert_id"] == alert).sum())}
