"""Telling people: a small interface with an SMTP implementation and a log-only one."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from pipelines.errors import SmecreditError

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Sends one short message."""

    def send(self, subject: str, body: str) -> None: ...


class SmtpError(SmecreditError):
    """An SMTP delivery failed; the one-line message names the step (connect, STARTTLS,
    authentication, sending) and the server's answer."""


@dataclass(frozen=True)
class SmtpNotifier:
    """Plain SMTP, SMTP over TLS (``use_ssl``) or STARTTLS (``starttls``), with AUTH when a
    ``login`` is given."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = 30.0
    use_ssl: bool = False

    def send(self, subject: str, body: str) -> None:
        """Send a plain-text message to ``recipients``; raises ``SmtpError``."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(self.recipients), subject
        message.set_content(body)
        self.send_message(message)

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def send_message(self, message: EmailMessage) -> None:
        """Send ``message`` as it is (its own From and To).

        Raises:
            SmtpError: naming the step that failed; a refused or unanswered AUTH is named an
                authentication failure, never a bare timeout.
        """
        where, step = f"{self.host}:{self.port}", "connect"
        try:
            with self._connect() as smtp:
                if self.starttls and not self.use_ssl:
                    step = "STARTTLS"
                    smtp.starttls(context=ssl.create_default_context())
                if self.login:
                    step = "authenticate"
                    smtp.login(self.login, self.password or "")
                step = "send"
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            answer = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc
            raise SmtpError(
                f"SMTP authentication failed for user {self.login!r} at {where}: {exc.smtp_code} {answer}"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            if step == "authenticate":
                raise SmtpError(
                    f"SMTP authentication failed for user {self.login!r} at {where}: the server did not "
                    f"accept the credentials ({one_line(exc)}); check the connection's login and password"
                ) from None
            raise SmtpError(f"SMTP {step} failed at {where}: {one_line(exc)}") from None


class LogNotifier:
    """Logs instead of sending, where no channel is configured."""

    def send(self, subject: str, body: str) -> None:
        log.error("%s: %s", subject, body)


def one_line(exc: BaseException | None) -> str:
    """The first line of an exception, with its type: what a data engineer needs to see first."""
    if exc is None:
        return "no exception recorded"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
