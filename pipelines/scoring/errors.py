"""The scoring stage's error."""

from __future__ import annotations

from pipelines.errors import SmecreditError


class ScoringError(SmecreditError):
    """Training or scoring cannot proceed; the message says why."""
