"""The monitoring stage's error."""

from __future__ import annotations

from pipelines.errors import SmecreditError


class MonitorError(SmecreditError):
    """A monitoring run cannot proceed; the message says why."""
