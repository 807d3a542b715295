"""The scoring stage's error."""

from __future__ import annotations


class ScoringError(Exception):
    """Training or scoring cannot proceed; the message says why."""
