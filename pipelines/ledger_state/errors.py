"""What the state store raises on purpose."""

from __future__ import annotations

from pipelines.errors import SmecreditError


class StateStoreError(SmecreditError):
    """The state store cannot be opened or used; the message names it and the cause."""
