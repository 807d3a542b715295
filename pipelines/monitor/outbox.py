"""The alert outbox and its delivery: at least once, never twice on the receiving side.

``<lake>/outbox/outbox.parquet`` holds one row per message: a digest of a day's new and
escalated alerts for one risk manager on one channel (``email`` to the manager's address,
``webhook`` to SMECREDIT_WEBHOOK_URL). Its ``idempotency_key`` is a hash of the channel,
the manager, the day and the alerts with their severities: queueing the same digest again
adds nothing. ``deliver`` sends every pending message that is due, marks it ``sent`` only
after the server accepted it, and otherwise counts the attempt and backs off
(``backoff_seconds * 2 ** (attempts - 1)``, capped at a day). A crash between sending and
marking leaves the message pending: it is sent again with the same key, which the
receiver uses to drop the duplicate (the email's Message-ID and ``X-Idempotency-Key``
header; the webhook's ``Idempotency-Key`` header).

The webhook body is JSON, signed with HMAC-SHA256 over ``<timestamp>.<body>`` with the key
SMECREDIT_WEBHOOK_KEY: header ``X-Smecredit-Signature: t=<timestamp>,v1=<hex>``.

Channels are independent: each message's failure is its own (recorded in ``last_error`` and
logged in one line), so a missing or wrong webhook key keeps the webhook messages pending
while the emails go out, and an SMTP failure does not hold back the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.errors import SmecreditError
from pipelines.lake import filesystem, write_parquet
from pipelines.monitor.alerts import severity_rank
from pipelines.notify import one_line
from pipelines.schemas import OUTBOX_SCHEMA as OUTBOX_SCHEMA

MAX_BACKOFF = 86_400.0

log = logging.getLogger(__name__)

Sender = Callable[[dict[str, Any]], None]  # raises when the server does not accept the message


def digests(
    events: Sequence[tuple[dict[str, Any], str]], managers: pd.DataFrame, day: date, webhook_url: str = ""
) -> list[dict[str, Any]]:
    """One message per risk manager and channel for the day's ``events``."""
    by_manager: dict[str, list[tuple[dict[str, Any], str]]] = {}
    for alert, event in events:
        by_manager.setdefault(str(alert["manager_id"]), []).append((alert, event))
    emails = dict(zip(managers["manager_id"], managers["email"], strict=True)) if len(managers) else {}
    names = dict(zip(managers["manager_id"], managers["name"], strict=True)) if len(managers) else {}
    out = []
    for manager, items in sorted(by_manager.items()):
        items.sort(key=lambda x: (-severity_rank(x[0]["severity"]), x[0]["alert_id"]))
        critical = sum(1 for a, _ in items if a["severity"] == "critical")
        subject = (
            f"[smecredit] {day.isoformat()}: {len(items)} loan alerts ({critical} critical) for {manager}"
        )
        lines = [f"Early-warning digest for {names.get(manager, manager)}, {day.isoformat()}", ""]
        payload_alerts = []
        for a, event in items:
            lines.append(
                f"- {a['severity'].upper()} {event}: {a['rule']} on loan {a['loan_id']} "
                f"(firm {a['firm_id']}): "
                f"{a['description']}. Figures {a['figures']}. Alert {a['alert_id']}, "
                f"{len(json.loads(a['evidence']))} evidence items."
            )
            payload_alerts.append(
                {
                    "alert_id": a["alert_id"],
                    "event": event,
                    "loan_id": a["loan_id"],
                    "firm_id": a["firm_id"],
                    "rule": a["rule"],
                    "severity": a["severity"],
                    "description": a["description"],
                    "figures": json.loads(a["figures"]),
                    "evidence": json.loads(a["evidence"]),
                }
            )
        body_text = "\n".join(lines) + "\n"
        alert_ids = [a["alert_id"] for a, _ in items]
        fingerprint = "|".join(f"{a['alert_id']}:{a['severity']}:{e}" for a, e in items)
        channels = [("email", str(emails.get(manager, "")))]
        if webhook_url:
            channels.append(("webhook", webhook_url))
        for channel, recipient in channels:
            if not recipient:
                continue
            key = hashlib.sha256(f"{channel}|{manager}|{day.isoformat()}|{fingerprint}".encode()).hexdigest()
            body = body_text
            if channel == "webhook":
                body = json.dumps(
                    {
                        "manager_id": manager,
                        "day": day.isoformat(),
                        "idempotency_key": key,
                        "alerts": payload_alerts,
                    },
                    sort_keys=True,
                )
            out.append(
                {
                    "message_id": key[:24],
                    "idempotency_key": key,
                    "channel": channel,
                    "recipient": recipient,
                    "manager_id": manager,
                    "day": day,
                    "subject": subject,
                    "body": body,
                    "alert_ids": alert_ids,
                }
            )
    return out


@dataclass
class Outbox:
    lake_uri: str

    @property
    def uri(self) -> str:
        return f"{self.lake_uri.rstrip('/')}/outbox/outbox.parquet"

    def read(self) -> pd.DataFrame:
        fs, path = filesystem(self.uri)
        if not fs.exists(path):
            return OUTBOX_SCHEMA.empty_table().to_pandas()
        return pq.read_table(io.BytesIO(fs.cat_file(path))).to_pandas()

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, schema=OUTBOX_SCHEMA, preserve_index=False)
        write_parquet(self.uri, table)

    def add(self, messages: Sequence[dict[str, Any]]) -> int:
        """Queue ``messages`` not queued before (by idempotency key); return how many."""
        current = self.read()
        known = set(current["idempotency_key"])
        now = datetime.now(UTC)
        new = [
            {
                **m,
                "status": "pending",
                "attempts": 0,
                "last_error": None,
                "created_at": now,
                "next_attempt_at": now,
                "sent_at": None,
            }
            for m in messages
            if m["idempotency_key"] not in known
        ]
        if new:
            frame = pd.DataFrame(new, columns=OUTBOX_SCHEMA.names)
            self.write(pd.concat([current, frame], ignore_index=True) if len(current) else frame)
        return len(new)


def deliver(
    outbox: Outbox, senders: dict[str, Sender], backoff_seconds: float = 60.0, now: datetime | None = None
) -> dict[str, int]:
    """Send every pending, due message through its channel's sender; record each outcome
    as soon as it is known (the outbox is rewritten after every message)."""
    frame = outbox.read()
    now = now or datetime.now(UTC)
    counts = {"sent": 0, "failed": 0, "waiting": 0}
    for i in frame.index:
        row = frame.loc[i]
        if row["status"] == "sent":
            continue
        if row["next_attempt_at"] > now:
            counts["waiting"] += 1
            continue
        sender = senders.get(str(row["channel"]))
        attempts = int(row["attempts"]) + 1
        try:
            if sender is None:
                raise RuntimeError(f"no sender configured for channel {row['channel']}")
            sender(row.to_dict())
        except Exception as exc:  # every failure is recorded; the message stays pending
            frame.loc[i, "attempts"] = attempts
            frame.loc[i, "last_error"] = one_line(exc)[:500]
            log.warning(
                "%s message %s to %s not sent (attempt %d): %s",
                row["channel"],
                row["message_id"],
                row["recipient"],
                attempts,
                one_line(exc),
            )
            wait = min(MAX_BACKOFF, backoff_seconds * 2 ** (attempts - 1))
            frame.loc[i, "next_attempt_at"] = now + timedelta(seconds=wait)
            counts["failed"] += 1
        else:
            frame.loc[i, "attempts"] = attempts
            frame.loc[i, "status"] = "sent"
            frame.loc[i, "sent_at"] = datetime.now(UTC)
            frame.loc[i, "last_error"] = None
            counts["sent"] += 1
        outbox.write(frame)
    return counts


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The webhook signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(key: bytes, header: str, body: bytes) -> bool:
    """What a receiver does: recompute the HMAC and compare in constant time."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    expected = sign(key, parts.get("t", ""), body)
    return hmac.compare_digest(expected, header)


class WebhookError(SmecreditError):
    """A webhook message was not accepted; the one-line message says why."""


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if not 200 <= response.status < 300:
                raise WebhookError(f"webhook {url} answered {response.status}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise WebhookError(
                f"webhook {url} refused the signature ({exc.code} {exc.reason}): "
                "SMECREDIT_WEBHOOK_KEY is not the receiver's key"
            ) from None
        raise WebhookError(f"webhook {url} answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise WebhookError(f"webhook {url} unreachable: {exc.reason}") from None


def webhook_sender(key: str, timeout: float = 10.0) -> Sender:
    """POST the message's JSON body to its recipient URL, signed with ``key``. Without a key
    no message is sent unsigned: each webhook message fails with a line that says so (and
    stays pending until the key is set), while other channels deliver as usual."""

    def send(message: dict[str, Any]) -> None:
        if not key:
            raise WebhookError("SMECREDIT_WEBHOOK_KEY is not set: webhook messages are never sent unsigned")
        body = str(message["body"]).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": str(message["idempotency_key"]),
            "X-Smecredit-Signature": sign(key.encode(), stamp, body),
        }
        _post(str(message["recipient"]), body, headers, timeout)

    return send
