"""Where the state store lives: ``SMECREDIT_STATE_URI``, or a SQLite file inside a local lake."""

from __future__ import annotations

from pathlib import Path

from fsspec.core import split_protocol
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pipelines.config import ENV_STATE_URI, ConfigError
from pipelines.lake import filesystem

DEFAULT_FILE = "state/ledger-state.sqlite"
BACKENDS = ("sqlite", "postgresql")


def state_uri(lake_uri: str, configured: str = "") -> str:
    """The SQLAlchemy URL of the state store: ``configured`` when given, else
    ``sqlite:///<lake>/state/ledger-state.sqlite`` for a lake on a local path.

    Raises:
        ConfigError: the lake is remote and no state URI is configured, or the URI is not a
            SQLite or PostgreSQL SQLAlchemy URL.
    """
    if configured:
        try:
            url = make_url(configured)
        except ArgumentError:
            raise ConfigError(f"{ENV_STATE_URI}={configured!r} is not a SQLAlchemy URL") from None
        if url.get_backend_name() not in BACKENDS:
            raise ConfigError(
                f"{ENV_STATE_URI}={configured!r}: the state store is sqlite:/// or postgresql+psycopg://"
            )
        return configured
    protocol, _ = split_protocol(lake_uri)
    if protocol not in (None, "file", "local"):
        raise ConfigError(
            f"the lake {lake_uri} is not a local path: set {ENV_STATE_URI} "
            "(postgresql+psycopg://... for a shared state store)"
        )
    _, root = filesystem(lake_uri)
    return f"sqlite:///{Path(root).resolve() / DEFAULT_FILE}"
