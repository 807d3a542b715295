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

An email is ``multipart/alternative``: the digest's plain text and its HTML
(``digest``, ``digest_html``). The webhook body is JSON (with ``schema_version``), signed
with HMAC-SHA256 over ``<timestamp>.<body>`` with the key
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
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.errors import SmecreditError
from pipelines.lake import filesystem, write_parquet
from pipelines.monitor.alerts import severity_rank
from pipelines.monitor.digest import Digest, Event, Recipient, groups
from pipelines.monitor.digest_html import render
from pipelines.notify import one_line
from pipelines.schemas import OUTBOX_SCHEMA as OUTBOX_SCHEMA

MAX_BACKOFF = 86_400.0

log = logging.getLogger(__name__)

Sender = Callable[[dict[str, Any]], None]  # raises when the server does not accept the message


def recipients(managers: pd.DataFrame) -> dict[str, Recipient]:
    if not len(managers):
        return {}
    return {
        str(m["manager_id"]): Recipient(
            str(m["manager_id"]), str(m.get("name") or m["manager_id"]), str(m["email"] or "")
        )
        for m in managers.to_dict("records")
    }


def digests(
    events: Sequence[Event],
    managers: pd.DataFrame,
    day: date,
    webhook_url: str = "",
    loans: pd.DataFrame | None = None,
    next_steps: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One outbox message per risk manager and channel for the day's ``events``; ``loans``
    (the day's active loans) gives each loan's balance, days past due and borrower, and
    ``next_steps`` each rule's next step (the catalogue's)."""
    by_manager: dict[str, list[Event]] = {}
    for alert, event in events:
        by_manager.setdefault(str(alert["manager_id"]), []).append((alert, event))
    people = recipients(managers)
    out = []
    for manager, items in sorted(by_manager.items()):
        who = people.get(manager, Recipient(manager, manager, ""))
        digest = Digest(
            who, day, groups(items, loans if loans is not None else pd.DataFrame()), next_steps or {}
        )
        fingerprint = "|".join(f"{a['alert_id']}:{a['severity']}:{e}" for a, e in sorted(items, key=_by_id))
        channels = [("email", who.email)] + ([("webhook", webhook_url)] if webhook_url else [])
        for channel, recipient in channels:
            if not recipient:
                continue
            key = hashlib.sha256(f"{channel}|{manager}|{day.isoformat()}|{fingerprint}".encode()).hexdigest()
            email = channel == "email"
            out.append(
                {
                    "message_id": key[:24],
                    "idempotency_key": key,
                    "channel": channel,
                    "recipient": recipient,
                    "manager_id": manager,
                    "day": day,
                    "subject": digest.subject,
                    "body": digest.text() if email else json.dumps(digest.payload(key), sort_keys=True),
                    "html": render(digest) if email else None,
                    "alert_ids": [a["alert_id"] for a, _ in digest.alerts],
                }
            )
    return out


def _by_id(event: Event) -> tuple[int, str]:
    """The order the idempotency key's fingerprint lists alerts in: most severe first, then
    by id (as before the digest was grouped by loan, so that keys stay the same)."""
    return -severity_rank(event[0]["severity"]), str(event[0]["alert_id"])


@dataclass
class Outbox:
    lake_uri: str

    @property
    def uri(self) -> str:
        return f"{self.lake_uri.rstrip('/')}/outbox/outbox.parquet"

    def read(self) -> pd.DataFrame:
        """The outbox; a column added since it was written (``html``) reads as empty."""
        fs, path = filesystem(self.uri)
        if not fs.exists(path):
            return OUTBOX_SCHEMA.empty_table().to_pandas()
        frame = pq.read_table(io.BytesIO(fs.cat_file(path))).to_pandas()
        for name in OUTBOX_SCHEMA.names:
            if name not in frame.columns:
                frame[name] = None
        return frame[OUTBOX_SCHEMA.names]

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
                "html": None,
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


def email_message(message: dict[str, Any], sender: str) -> EmailMessage:
    """The email of an outbox message: ``multipart/alternative`` with the plain text and,
    when the message has one, its HTML; the idempotency key is the Message-ID and the
    ``X-Idempotency-Key`` header (unfolded, on one line)."""
    key = str(message["idempotency_key"])
    mail = EmailMessage(policy=SMTP.clone(max_line_length=998))
    mail["From"], mail["To"], mail["Subject"] = sender, str(message["recipient"]), str(message["subject"])
    mail["Message-ID"], mail["X-Idempotency-Key"] = f"<{key[:32]}@smecredit>", key
    mail.set_content(str(message["body"]))
    page = message.get("html")
    if isinstance(page, str) and page:
        mail.add_alternative(page, subtype="html")
    return mail


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The webhook signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(key: bytes, header: str, body: bytes) -> bool:
    """What a receiver does: recompute the HMAC and compare in constant time."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    expected = sign(key, parts.get("t", ""), body)
    return hmac.compare_digest(expected, header)


class WebhookError(SmecreditError, RuntimeError):
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
