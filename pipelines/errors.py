"""The one base of the errors ``pipelines`` raises on purpose.

An error says in one line what went wrong and with what (a bundle, a file, a rule), so that
the CLI can print ``smecredit: error: <message>`` and a failed task's log shows it first.
Stages define their own subclasses beside their code; ``IngestError`` lives here because the
ingest package is split into modules that all raise it.
"""

from __future__ import annotations


class SmecreditError(Exception):
    """Base of every error ``pipelines`` raises on purpose; its message is one line."""

    def __str__(self) -> str:
        lines = (line.strip() for line in super().__str__().splitlines())
        return " ".join(line for line in lines if line)


class IngestError(SmecreditError):
    """A bundle could not be ingested; the message names it and the cause."""
