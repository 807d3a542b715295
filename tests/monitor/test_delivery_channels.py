"""Delivery channels are independent, against real servers on loopback: an SMTP server
that requires AUTH (aiosmtpd) and an HTTP receiver that checks the webhook signature."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.airflow_edge import email_sender
from pipelines.monitor.outbox import Outbox, deliver, verify_signature, webhook_sender

HOOK_KEY = b"receiver-secret"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Receivers:
    """aiosmtpd with AUTH required (login ``alerts``, password ``right``) and a webhook
    receiver that answers 401 to a bad signature. ``silent_on_bad_auth`` makes the SMTP
    server drop a wrong login without an answer, as some servers do."""

    def __init__(self, silent_on_bad_auth: bool = False) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.mails: list[email.message.Message] = []
        self.posts: list[bytes] = []
        outer = self

        class Smtp:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.mails.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = data.login == b"alerts" and data.password == b"right"
            return AuthResult(success=ok, handled=silent_on_bad_auth and not ok)

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                good = verify_signature(HOOK_KEY, self.headers.get("X-Smecredit-Signature", ""), body)
                if good:
                    outer.posts.append(body)
                self.send_response(200 if good else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.smtp_port = _free_port()
        self.smtp = Controller(
            Smtp(),
            hostname="127.0.0.1",
            port=self.smtp_port,
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=False,
        )
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/alerts"

    def __enter__(self) -> Receivers:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # AUTH without TLS: loopback only
            self.smtp.start()
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.smtp.stop()
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    with Receivers() as r:
        yield r


def _outbox(tmp_path: Path, url: str) -> Outbox:
    box = Outbox(str(tmp_path / "lake"))
    messages = []
    for n, (channel, recipient) in enumerate(
        [("email", "rm1@bank.example"), ("webhook", url), ("email", "rm2@bank.example"), ("webhook", url)]
    ):
        key = f"{channel}-{n}".ljust(64, "0")
        body = json.dumps({"n": n}) if channel == "webhook" else f"digest {n}\n"
        messages.append(
            {
                "message_id": key[:24],
                "idempotency_key": key,
                "channel": channel,
                "recipient": recipient,
                "manager_id": f"RM{n}",
                "day": date(2025, 3, 2),
                "subject": f"[smecredit] digest {n}",
                "body": body,
                "alert_ids": [f"A{n}"],
            }
        )
    assert box.add(messages) == 4
    return box


def _smtp_conn(monkeypatch: pytest.MonkeyPatch, port: int, password: str) -> None:
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "login": "alerts",
        "password": password,
        "extra": {
            "disable_ssl": True,
            "disable_tls": True,
            "from_email": "alerts@bank.example",
            "timeout": 3,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))


def _errors(box: Outbox) -> dict[str, set[str]]:
    frame = box.read()
    pending = frame[frame.status == "pending"]
    return {ch: set(pending[pending.channel == ch].last_error) for ch in set(pending.channel)}


def test_no_webhook_key_fails_the_webhook_messages_only(
    receivers: Receivers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _smtp_conn(monkeypatch, receivers.smtp_port, "right")
    box = _outbox(tmp_path, receivers.url)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("pipelines.monitor.outbox").addHandler(handler)
    try:
        counts = deliver(box, {"email": email_sender(), "webhook": webhook_sender("")}, 0)
    finally:
        logging.getLogger("pipelines.monitor.outbox").removeHandler(handler)
    assert counts == {"sent": 2, "failed": 2, "waiting": 0}
    assert sorted(m["To"] for m in receivers.mails) == ["rm1@bank.example", "rm2@bank.example"]
    assert {m["X-Idempotency-Key"] for m in receivers.mails} == set(box.read().idempotency_key[::2])
    assert _errors(box) == {
        "webhook": {
            "WebhookError: SMECREDIT_WEBHOOK_KEY is not set: webhook messages are never sent unsigned"
        }
    }
    assert len(lines) == 2 and all(line.startswith("webhook message") for line in lines)
    assert "SMECREDIT_WEBHOOK_KEY is not set" in lines[0] and not receivers.posts
    # once the key is set, the pending webhook messages go out and nothing is sent twice
    assert (
        deliver(box, {"email": email_sender(), "webhook": webhook_sender(HOOK_KEY.decode())}, 0)["sent"] == 2
    )
    assert len(receivers.posts) == 2 and len(receivers.mails) == 2


def test_a_wrong_webhook_key_is_named_and_emails_still_go(
    receivers: Receivers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _smtp_conn(monkeypatch, receivers.smtp_port, "right")
    box = _outbox(tmp_path, receivers.url)
    counts = deliver(box, {"email": email_sender(), "webhook": webhook_sender("not-the-key")}, 0)
    assert counts["sent"] == 2 and len(receivers.mails) == 2
    (error,) = _errors(box)["webhook"]
    assert (
        "refused the signature (401 Unauthorized): SMECREDIT_WEBHOOK_KEY is not the receiver's key" in error
    )


@pytest.mark.parametrize("silent", [False, True])
def test_a_wrong_smtp_password_is_named_an_authentication_failure(
    silent: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receivers(silent_on_bad_auth=silent) as receivers:
        _smtp_conn(monkeypatch, receivers.smtp_port, "wrong")
        box = _outbox(tmp_path, receivers.url)
        counts = deliver(box, {"email": email_sender(), "webhook": webhook_sender(HOOK_KEY.decode())}, 0)
        assert counts == {"sent": 2, "failed": 2, "waiting": 0} and len(receivers.posts) == 2
        (error,) = _errors(box)["email"]
        assert error.startswith(
            f"SmtpError: SMTP authentication failed for user 'alerts' at 127.0.0.1:{receivers.smtp_port}"
        )
        assert ("535" in error) is not silent and "wrong" not in error


def test_an_unreachable_smtp_server_or_missing_connection_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    _smtp_conn(monkeypatch, port, "right")
    box = _outbox(tmp_path, "http://127.0.0.1:9/alerts")
    deliver(box, {"email": email_sender(), "webhook": webhook_sender("k")}, 0, datetime.now(UTC))
    errors = _errors(box)
    (smtp_error,) = errors["email"]
    assert smtp_error.startswith(
        f"SmtpError: SMTP connect failed at 127.0.0.1:{port}: ConnectionRefusedError"
    )
    (hook_error,) = errors["webhook"]
    assert hook_error.startswith("WebhookError: webhook http://127.0.0.1:9/alerts unreachable")
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT")
    box2 = _outbox(tmp_path / "2", "http://127.0.0.1:9/alerts")
    deliver(box2, {"email": email_sender()}, 0)
    (missing,) = _errors(box2)["email"]
    assert "SMTP connection 'smtp_default' is not configured" in missing


def _day_of_alerts() -> tuple[list[tuple[dict[str, Any], str]], pd.DataFrame, pd.DataFrame]:
    """Four alerts on two loans of one manager (the warning-only loan is the larger) and one
    of another manager; the day's active loans and the managers."""
    from pipelines.monitor import update_alerts

    def cond(loan: str, rule: str, severity: str, manager: str, evidence: list[Any]) -> dict[str, Any]:
        return {
            "loan_id": loan,
            "firm_id": f"F-{loan}",
            "manager_id": manager,
            "rule": rule,
            "severity": severity,
            "description": f"{rule} said in a sentence for {loan}",
            "figures": {"value": 1},
            "evidence": evidence,
        }

    records = [{"record_id": f"sc-{n}", "leaf_hash": f"{n:02d}" * 32} for n in range(8)]
    found = [
        cond("L1", "sales_drop", "warning", "RM1", records),
        cond("L2", "dpd_1_30", "warning", "RM1", [{"bank_books": "loan_performance", "loan_id": "L2"}]),
        cond("L2", "behaviour_pd", "critical", "RM1", [{"feature_input_hash": "ab" * 32}]),
        cond("L3", "no_sales", "warning", "RM2", records[:1]),
    ]
    _, events = update_alerts(pd.DataFrame(), found, date(2025, 3, 2))
    loans = pd.DataFrame(
        {
            "loan_id": ["L1", "L2", "L3"],
            "firm_id": ["F-L1", "F-L2", "F-L3"],
            "balance_fen": [900_000_00, 120_000_50, 5_000_00],
            "amount_fen": [1_000_000_00, 200_000_00, 10_000_00],
            "disbursed_on": ["2024-05-01", "2024-06-01", "2024-07-01"],
            "dpd": [0, 12, 0],
            "month_end": ["2025-02-28"] * 3,
            "industry": ["textiles", "food", "retail"],
            "region": ["east", "east", "north"],
        }
    )
    managers = pd.DataFrame(
        {
            "manager_id": ["RM1", "RM2"],
            "name": ["Wang Fang", "Li Lei"],
            "email": ["rm1@bank.example", "rm2@bank.example"],
        }
    )
    return events, loans, managers


def test_a_digest_reads_as_text_and_html_grouped_by_loan_critical_first(
    receivers: Receivers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.monitor.digest import WEBHOOK_SCHEMA_VERSION
    from pipelines.monitor.outbox import digests

    _smtp_conn(monkeypatch, receivers.smtp_port, "right")
    events, loans, managers = _day_of_alerts()
    steps = {r: f"next step for {r}" for r in ("sales_drop", "dpd_1_30", "behaviour_pd", "no_sales")}
    box = Outbox(str(tmp_path / "lake"))
    assert box.add(digests(events, managers, date(2025, 3, 2), receivers.url, loans, steps)) == 4
    counts = deliver(box, {"email": email_sender(), "webhook": webhook_sender(HOOK_KEY.decode())}, 0)
    assert counts == {"sent": 4, "failed": 0, "waiting": 0}
    mail = next(m for m in receivers.mails if m["To"] == "rm1@bank.example")
    parsed = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    text = parsed.get_body(("plain",)).get_content()
    page = parsed.get_body(("html",)).get_content()
    # grouped by loan, the loan with a critical alert first although its balance is smaller
    assert text.count("Loan L2") == 1 and text.count("Loan L1") == 1
    assert text.index("1. Loan L2 - CRITICAL") < text.index("2. Loan L1 - WARNING")
    assert "Call today:\n  1. L2 (CNY 120,000.50, 12 days past due): behaviour_pd\n\n" in text
    assert text.index("[CRITICAL, new] behaviour_pd") < text.index("[WARNING, new] dpd_1_30")
    for line in (
        "Borrower: F-L2 (food, east)",
        "Balance:  CNY 120,000.50 of CNY 200,000.00 lent on 2024-06-01",
        "Past due: 12 days at the 2025-02-28 month end",
        "Manager:  Wang Fang",
        "Next step: next step for behaviour_pd",
        "feature row hash\n       " + "ab" * 32,
        "Evidence: the bank's books (loan_performance of loan L2)",
        "sc-0\n       " + "00" * 32,
        "Evidence: 8 attested records, newest first (record id, leaf hash)",
        "the other 5: smecredit alerts --show",
    ):
        assert line in text, line
    ids = {a["rule"]: a["alert_id"] for a, _ in events}
    assert f'Acknowledge: smecredit alerts --ack {ids["behaviour_pd"]} --by "Wang Fang"' in text
    assert "no_sales" not in text and "sc-3" not in text  # another manager's; past the three shown
    assert "<pre" not in page and "overflow-wrap:anywhere" in page
    assert page.index("Loan L2") < page.index("Loan L1") and "CNY 900,000.00" in page
    assert "<b>Call today</b>" in page
    assert f"smecredit alerts --ack {ids['sales_drop']} --by &quot;Wang Fang&quot;" in page
    subject = "[smecredit] 2025-03-02: 2 loans to look at, 3 alerts (1 critical), for Wang Fang"
    assert parsed["Subject"] == subject
    bodies = [json.loads(b) for b in receivers.posts]
    hook = next(b for b in bodies if b["manager_id"] == "RM1")
    assert hook["schema_version"] == WEBHOOK_SCHEMA_VERSION and hook["text"] == text
    assert [a["rule"] for a in hook["alerts"]] == ["behaviour_pd", "dpd_1_30", "sales_drop"]
    assert hook["alerts"][0]["next_step"] == "next step for behaviour_pd" and hook["alerts"][1]["dpd"] == 12
