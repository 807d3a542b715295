"""The Airflow edge: the one module that reads the environment, Airflow Variables and
Connections for DAG tasks, at task run time only (never when a DAG file is parsed). Everything
it reads is turned into plain configuration objects (``Settings``) and passed down."""

from __future__ import annotations

import logging
import os
from typing import Any

from pipelines.config import ENV_ALERT_EMAILS, ENV_MODEL_KEY, ENV_NAMES, ConfigError, Settings
from pipelines.notify import LogNotifier, Notifier, SmtpError, SmtpNotifier, one_line

log = logging.getLogger(__name__)

# The Assets the DAGs hand data over by: verified records per source, then derived tables.
ASSET_URIS = {
    "verified_supply_chain": "smecredit://lake/verified/supply_chain",
    "verified_social_insurance": "smecredit://lake/verified/social_insurance",
    "verified_housing_fund": "smecredit://lake/verified/housing_fund",
    "features": "smecredit://lake/features",
    "pre_loan_scores": "smecredit://lake/scores/pre_loan",
    "models": "smecredit://models/registry",
    "in_loan_reviews": "smecredit://lake/reviews/in_loan",
    "alerts": "smecredit://lake/alerts",
}


def asset(name: str) -> Any:
    """The Airflow Asset called ``name`` (one of ``ASSET_URIS``)."""
    from airflow.sdk import Asset

    return Asset(uri=ASSET_URIS[name], name=name)


def _variable(name: str) -> str | None:
    try:
        from airflow.sdk import Variable

        value = Variable.get(name, default=None)
        return None if value is None else str(value)
    except Exception:  # no Airflow context, or no such Variable: the environment decides
        return None


MODEL_KEY_CONN = "smecredit_model_signing"


def _model_signing_key() -> str | None:
    """The model-signing key from the Airflow connection ``smecredit_model_signing`` (its
    password, or ``private_key`` in its extra), served by a secrets backend in production."""
    try:
        from airflow.sdk import Connection

        conn = Connection.get(MODEL_KEY_CONN)
    except Exception:  # no Airflow context, or no such connection: the environment decides
        return None
    return conn.password or (conn.extra_dejson or {}).get("private_key") or None


def settings() -> Settings:
    """Settings from the environment, each ``SMECREDIT_*`` variable overridable by an Airflow
    Variable of the same name (a non-empty one wins), and the model-signing key by the Airflow
    connection ``smecredit_model_signing``. Call it inside a task, never at parse time.

    Raises:
        ConfigError: a count is not a positive whole number, or a delay not 0 or more.
    """
    env = dict(os.environ)
    for name in ENV_NAMES:
        value = _variable(name)
        if value:
            env[name] = value
    key = _model_signing_key()
    if key:
        env[ENV_MODEL_KEY] = key
    return Settings.from_env(env)


def notifier(conn_id: str = "smtp_default") -> Notifier:
    """Email through the Airflow connection ``conn_id`` when it is configured, else the log."""
    try:
        recipients = settings().alert_emails
    except ConfigError:  # the failure being reported may be that very setting: still tell someone
        recipients = _variable(ENV_ALERT_EMAILS) or os.environ.get(ENV_ALERT_EMAILS, "")
    try:
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
    except Exception:
        return LogNotifier()
    extra = conn.extra_dejson or {}
    to = tuple(r.strip() for r in (recipients or extra.get("to", "")).split(",") if r.strip())
    if not conn.host or not to:
        return LogNotifier()
    return SmtpNotifier(
        host=conn.host,
        port=int(conn.port or 25),
        sender=str(extra.get("from_email") or "smecredit@localhost"),
        recipients=to,
        login=conn.login or None,
        password=conn.password or None,
        starttls=bool(extra.get("starttls", False)),
    )


def _send(subject: str, body: str) -> None:
    log.error("%s | %s", subject, body)
    try:
        notifier().send(subject, body)
    except Exception as exc:  # an alert that cannot be mailed is still in the log
        log.error("could not email the alert: %s", one_line(exc))


def task_failure_alert(context: dict[str, Any]) -> None:
    """``on_failure_callback``: one line in the log, and an email when SMTP is configured."""
    ti = context.get("ti") or context.get("task_instance")
    where = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        where += f"[{map_index}]"
    cause = one_line(context.get("exception"))
    when = context.get("logical_date") or context.get("run_id")
    _send(
        f"[smecredit] {where} failed",
        f"{where} failed for {when} (try {getattr(ti, 'try_number', '?')}): {cause}",
    )


def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Deadline-alert callback: the daily run has not finished in time."""
    dag_id = kwargs.get("dag_id", "?")
    hours = kwargs.get("hours", "?")
    _send(
        f"[smecredit] {dag_id} missed its deadline",
        f"{dag_id} has not finished {hours} h after its logical date",
    )


def without_deadline(dag: Any) -> Any:
    """``dag`` made runnable by ``dag.test()``: Airflow 3.3.2 looks a run's deadline alerts up
    by database id, which only the scheduler's DAG sync assigns, so ``dag.test()`` of a DAG
    with a deadline fails at the end of the run. For in-process runs only (tests, the demo);
    the scheduler keeps the deadline."""
    dag.deadline = None
    return dag


def run_days(params: dict[str, Any] | None, dag_run: Any, lag_days: int = 1) -> list[str]:
    """The days a daily run works on: ``params['day']`` through ``params['through']`` when
    given (backfills, the demo), else the day ``lag_days`` before the run's date."""
    from datetime import date, timedelta

    params = params or {}
    if params.get("day"):
        first = date.fromisoformat(str(params["day"]))
        last = date.fromisoformat(str(params.get("through") or params["day"]))
        if last < first:
            raise ValueError(f"through ({last}) is before day ({first})")
        return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    when = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
    today = when.date() if when is not None else date.today()
    return [(today - timedelta(days=lag_days)).isoformat()]


def _outbox_smtp(conn_id: str) -> SmtpNotifier:
    """The outbox's SMTP server from the Airflow connection ``conn_id``, read as the SMTP
    provider reads it: SMTP over TLS unless ``disable_ssl``, STARTTLS unless ``disable_tls``,
    ``from_email`` and ``timeout`` (seconds) in the extra.

    Raises:
        SmtpError: no such connection, or one without a host.
    """
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # Airflow raises several types for a missing connection
        raise SmtpError(f"SMTP connection {conn_id!r} is not configured ({one_line(exc)})") from None
    extra = conn.extra_dejson or {}
    if not conn.host:
        raise SmtpError(f"SMTP connection {conn_id!r} has no host")
    use_ssl = not extra.get("disable_ssl", False)
    return SmtpNotifier(
        host=conn.host,
        port=int(conn.port or (465 if use_ssl else 25)),
        sender=str(extra.get("from_email") or "smecredit@localhost"),
        recipients=(),
        login=conn.login or None,
        password=conn.password or None,
        starttls=not use_ssl and not extra.get("disable_tls", False),
        timeout=float(extra.get("timeout") or 30),
        use_ssl=use_ssl,
    )


def email_sender(conn_id: str = "smtp_default") -> Any:
    """Send outbox email through the SMTP server of the Airflow connection ``conn_id``. The
    idempotency key is the Message-ID and an ``X-Idempotency-Key`` header. A missing
    connection or a refused login fails each email message with a line that says so; it
    never stops the other channels."""

    def send(message: dict[str, Any]) -> None:
        from pipelines.monitor.outbox import email_message

        smtp = _outbox_smtp(conn_id)
        mail = email_message(message, smtp.sender)
        smtp.send_message(mail)

    return send


def webhook_config() -> tuple[str, str]:
    """(URL, HMAC key) of the alert webhook: SMECREDIT_WEBHOOK_URL and SMECREDIT_WEBHOOK_KEY,
    from the environment or Airflow Variables (a secrets backend serves the key in production)."""
    s = settings()
    return s.webhook_url, s.webhook_key


EVIDENCE_KEY_CONN = "smecredit_evidence_key"


def evidence_key() -> str:
    """The bank's Ed25519 evidence signing key (PEM text, or a path to a PEM file): the
    password (or extra ``private_key``) of the Airflow connection ``smecredit_evidence_key``
    when it is set (a secrets backend serves it in production), else SMECREDIT_EVIDENCE_KEY."""
    try:
        from airflow.sdk import Connection

        conn = Connection.get(EVIDENCE_KEY_CONN)
        value = conn.password or (conn.extra_dejson or {}).get("private_key")
        if value:
            return str(value)
    except Exception:  # no Airflow context, or no such connection: the environment decides
        pass
    return settings().evidence_key


def deliver_outbox() -> dict[str, int]:
    """Send the outbox's pending messages by email (``smtp_default``) and, when
    SMECREDIT_WEBHOOK_URL is set, by signed webhook; each channel on its own, so one that
    fails leaves the other's messages going out. Fails the task (so Airflow retries and the
    failure is seen) while any message is still refused."""
    from pipelines.monitor.outbox import Outbox, deliver, webhook_sender

    s = settings()
    senders = {"email": email_sender()}
    if s.webhook_url:
        senders["webhook"] = webhook_sender(s.webhook_key)
    counts = deliver(Outbox(s.lake_uri), senders, s.delivery_backoff_seconds)
    if counts["failed"]:
        raise RuntimeError(f"{counts['failed']} messages not accepted yet, kept pending: {counts}")
    return counts
