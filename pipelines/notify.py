"""Telling people: a small interface with an SMTP implementation and a log-only one."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Sends one short message."""

    def send(self, subject: str, body: str) -> None: ...


@dataclass(frozen=True)
class SmtpNotifier:
    """Plain SMTP (STARTTLS when the server offers it and ``starttls`` is set)."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    login: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0

    def send(self, subject: str, body: str) -> None:
        """Send the message; raises ``OSError``/``smtplib.SMTPException`` when the server refuses."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(self.recipients), subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.login:
                smtp.login(self.login, self.password or "")
            smtp.send_message(message)


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
