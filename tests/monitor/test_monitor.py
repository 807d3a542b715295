"""Alert lifecycle, the outbox, and the monitor DAG delivering to real SMTP and HTTP servers."""

from __future__ import annotations

import email
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.airflow_edge import without_deadline
from pipelines.monitor import MonitorError, acknowledge, read_alerts, update_alerts, write_alerts
from pipelines.monitor.outbox import Outbox, deliver, sign, verify_signature
from tests.airflow_helpers import load_dag, run_dag

D1, D2, D3, D4 = (date(2025, 1, d) for d in (1, 2, 3, 4))


def cond(rule: str = "si_arrears", severity: str = "warning", loan: str = "L1") -> dict[str, Any]:
    return {
        "loan_id": loan,
        "firm_id": "F1",
        "manager_id": "RM1",
        "rule": rule,
        "severity": severity,
        "description": "arrears",
        "figures": {"months": 2},
        "evidence": [{"record_id": "si-1", "leaf_hash": "ab" * 32}],
    }


def test_an_alert_is_opened_once_updated_escalated_and_resolved(tmp_path: Path) -> None:
    alerts, events = update_alerts(pd.DataFrame(), [cond()], D1)
    assert [e for _, e in events] == ["new"] and len(alerts) == 1
    again, events = update_alerts(alerts, [cond()], D1)  # a rerun of the day
    assert [e for _, e in events] == ["new"] and len(again) == 1  # the same event, same alert id
    later, events = update_alerts(again, [cond()], D2)
    assert events == [] and len(later) == 1 and later.iloc[0].updated_on == D2
    write_alerts(str(tmp_path), later)
    acknowledge(str(tmp_path), later.iloc[0].alert_id, "rm1")
    acked = read_alerts(str(tmp_path))
    assert acked.iloc[0].status == "acknowledged" and acked.iloc[0].acknowledged_by == "rm1"
    worse, events = update_alerts(acked, [cond(severity="critical")], D3)
    assert [e for _, e in events] == ["escalated"] and worse.iloc[0].status == "open"
    assert worse.iloc[0].severity == "critical" and worse.iloc[0].escalated_on == D3
    cleared, events = update_alerts(worse, [], D4)
    assert events == [] and cleared.iloc[0].status == "resolved" and cleared.iloc[0].resolved_on == D4
    back, events = update_alerts(cleared, [cond()], date(2025, 1, 9))
    assert [e for _, e in events] == ["new"] and len(back) == 2 and back.alert_id.is_unique
    write_alerts(str(tmp_path), back)
    with pytest.raises(MonitorError, match="resolved"):
        acknowledge(str(tmp_path), cleared.iloc[0].alert_id, "rm1")
    with pytest.raises(MonitorError, match="no alert"):
        acknowledge(str(tmp_path), "nope", "rm1")


def test_collateral_is_lost_once_pledged_and_released_or_never_pledged_after_the_grace() -> None:
    from pipelines.monitor.rules.collateral import PLEDGE_GRACE_DAYS, coverage

    day = date(2025, 3, 1)
    recent, old = day - timedelta(days=5), day - timedelta(days=PLEDGE_GRACE_DAYS + 1)
    loans = pd.DataFrame(
        {
            "loan_id": ["L1", "L2", "L3", "L4"],
            "collateral_receipts": [["R1"], ["R2"], ["R3"], ["R4", "R2"]],
            "disbursed_on": [old, recent, old, recent],
        }
    )
    # In chain order: R1 pledged to the bank and later released; R2 and R3 only issued (their
    # pledges never sealed); R4 pledged to the bank, R5 to another lender.
    receipts = pd.DataFrame(
        {
            "receipt_no": ["R1", "R2", "R3", "R4", "R1"],
            "status": ["pledged", "issued", "issued", "pledged", "released"],
            "pledgee": ["BANK", None, None, "BANK", None],
            "value_fen": [100.0, 200.0, 300.0, 400.0, 100.0],
        }
    )
    cover = coverage(loans, receipts, "BANK", day)
    assert cover["L1"] == (0.0, ["R1"], ["R1"])  # released after the pledge: lost
    assert cover["L2"] == (0.0, ["R2"], [])  # a new loan's pledge still pending: not lost
    assert cover["L3"] == (0.0, ["R3"], ["R3"])  # never pledged, grace over: lost
    assert cover["L4"] == (400.0, ["R4", "R2"], [])
    assert coverage(loans, receipts, "BANK", day, grace_days=3)["L2"] == (0.0, ["R2"], ["R2"])


def message(key: str) -> dict[str, Any]:
    return {
        "message_id": key[:24],
        "idempotency_key": key,
        "channel": "email",
        "recipient": "rm@bank.example",
        "manager_id": "RM1",
        "day": D1,
        "subject": "s",
        "body": "b",
        "alert_ids": ["a"],
    }


def test_outbox_retries_with_backoff_and_never_drops(tmp_path: Path) -> None:
    box = Outbox(str(tmp_path))
    assert box.add([message("k1"), message("k2")]) == 2
    assert box.add([message("k1")]) == 0  # queued once per idempotency key
    seen: list[str] = []

    def down(m: dict[str, Any]) -> None:
        raise ConnectionRefusedError("connection refused")

    now = datetime.now(UTC) + timedelta(seconds=1)
    assert deliver(box, {"email": down}, 60, now) == {"sent": 0, "failed": 2, "waiting": 0}
    frame = box.read()
    assert (frame.status == "pending").all() and (frame.attempts == 1).all()
    assert "connection refused" in frame.last_error.iloc[0]
    assert deliver(box, {"email": down}, 60, now + timedelta(seconds=30))["waiting"] == 2  # backing off
    deliver(box, {"email": down}, 60, now + timedelta(seconds=61))
    assert (box.read().attempts == 2).all()  # next wait: 120 s

    def crash_after_send(m: dict[str, Any]) -> None:
        seen.append(m["idempotency_key"])
        raise SystemError("worker died before marking")  # the server got it; we never marked it

    deliver(box, {"email": crash_after_send}, 0, now + timedelta(hours=1))
    deliver(box, {"email": lambda m: seen.append(m["idempotency_key"])}, 0, now + timedelta(hours=2))
    assert sorted(seen) == ["k1", "k1", "k2", "k2"]  # re-sent with the same key: the receiver dedupes
    frame = box.read()
    assert (frame.status == "sent").all() and frame.sent_at.notna().all()
    assert deliver(box, {"email": down}, 0, now + timedelta(hours=3)) == {
        "sent": 0,
        "failed": 0,
        "waiting": 0,
    }


def test_webhook_signature_round_trip() -> None:
    header = sign(b"secret", "1700000000", b'{"a":1}')
    assert verify_signature(b"secret", header, b'{"a":1}')
    assert not verify_signature(b"secret", header, b'{"a":2}')
    assert not verify_signature(b"other", header, b'{"a":1}')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Servers:
    """A real SMTP server (aiosmtpd) and a real HTTP server on localhost, which can refuse."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.refuse = False
        self.mails: list[email.message.Message] = []
        self.posts: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Smtp:
            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                if outer.refuse:
                    return "451 4.3.0 try again later"
                outer.mails.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        class Http(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.refuse:
                    self.send_response(503)
                else:
                    outer.posts.append((dict(self.headers), body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.smtp_port = free_port()
        self.smtp = Controller(Smtp(), hostname="127.0.0.1", port=self.smtp_port)
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
        self.http_port = self.http.server_address[1]

    def __enter__(self) -> Servers:
        self.smtp.start()
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.smtp.stop()
        self.http.shutdown()


@pytest.fixture
def servers() -> Iterator[Servers]:
    with Servers() as s:
        yield s


@pytest.mark.integration
def test_monitor_dag_delivers_each_alert_once_even_through_an_outage(
    airflow_db: Path,
    credit_world: Path,
    scored_lake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    servers: Servers,
) -> None:
    lake, bank = tmp_path / "lake", str(credit_world / "world" / "bank")
    shutil.copytree(scored_lake, lake)
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": servers.smtp_port,
        "extra": {
            "disable_ssl": True,
            "disable_tls": True,
            "from_email": "alerts@bank.example",
            "retry_limit": 1,
            "timeout": 5,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("SMECREDIT_LAKE_URI", str(lake))
    monkeypatch.setenv("SMECREDIT_BANK_URI", bank)
    monkeypatch.setenv("SMECREDIT_WEBHOOK_URL", f"http://127.0.0.1:{servers.http_port}/alerts")
    monkeypatch.setenv("SMECREDIT_WEBHOOK_KEY", "hook-secret")
    monkeypatch.setenv("SMECREDIT_DELIVERY_BACKOFF_SECONDS", "0")

    def dag() -> Any:
        d = load_dag("monitor_post_loan")
        for t in d.tasks:
            t.retries = 0
        return d

    run_dag(dag(), run_conf={"day": "2025-01-05", "through": "2025-03-02", "every_days": 28})
    box = Outbox(str(lake)).read()
    assert len(box) > 0 and (box.status == "sent").all()
    mails, posts = list(servers.mails), list(servers.posts)
    assert len(mails) == (box.channel == "email").sum() and len(posts) == (box.channel == "webhook").sum()
    keys = [m["X-Idempotency-Key"] for m in mails]
    assert len(set(keys)) == len(keys) and set(keys) <= set(box.idempotency_key)
    for headers, body in posts:
        assert verify_signature(b"hook-secret", headers["X-Smecredit-Signature"], body)
        payload = json.loads(body)
        assert payload["idempotency_key"] == headers["Idempotency-Key"] and payload["alerts"]
    alerts = read_alerts(str(lake))
    assert {
        "alert_id",
        "loan_id",
        "firm_id",
        "rule",
        "severity",
        "status",
        "opened_on",
        "updated_on",
        "evidence",
    } <= set(alerts.columns)
    delivered = {a for ids in box.alert_ids for a in ids}
    new_by_day = alerts[alerts.opened_on.isin([date(2025, 1, 5), date(2025, 2, 2), date(2025, 3, 2)])]
    assert set(new_by_day.alert_id) <= delivered

    run_dag(dag(), run_conf={"day": "2025-03-02"})  # a rerun of the last day: nothing new
    assert len(servers.mails) == len(mails) and len(servers.posts) == len(posts)

    servers.refuse = True
    run = without_deadline(dag()).test(run_conf={"day": "2025-03-30"})
    assert run.state == "failed"
    pending = Outbox(str(lake)).read()
    pending = pending[pending.status == "pending"]
    assert len(pending) > 0 and (pending.attempts >= 1).all()
    assert len(servers.mails) == len(mails)

    servers.refuse = False
    run_dag(dag(), run_conf={"day": "2025-03-30"})
    box = Outbox(str(lake)).read()
    assert (box.status == "sent").all()
    assert len(servers.mails) == (box.channel == "email").sum()
    assert len(servers.posts) == (box.channel == "webhook").sum()
    with pytest.raises(MonitorError, match="earlier"):
        from pipelines.config import Settings
        from pipelines.monitor import Catalogue, monitor_day

        monitor_day(Settings.from_env(), date(2025, 1, 5), Catalogue.load())
