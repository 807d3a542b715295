"""The monitoring stage's error."""

from __future__ import annotations


class MonitorError(Exception):
    """A monitoring run cannot proceed; the message says why."""
