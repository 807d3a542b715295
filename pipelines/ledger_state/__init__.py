"""The state store: the verifier's memory and the ingest's commit point, in SQLite or
PostgreSQL behind SQLAlchemy (docs/state-store.md)."""

from pipelines.ledger_state.errors import StateStoreError
from pipelines.ledger_state.invoices import index_landed_invoices
from pipelines.ledger_state.location import DEFAULT_FILE, state_uri
from pipelines.ledger_state.migrate import migrate_old_state, old_state_uri
from pipelines.ledger_state.store import Commit, Reads, StateStore

__all__ = [
    "DEFAULT_FILE",
    "Commit",
    "Reads",
    "StateStore",
    "StateStoreError",
    "index_landed_invoices",
    "migrate_old_state",
    "old_state_uri",
    "state_uri",
]
