"""The verifier's state in the lake (``state/<chain_id>.sqlite``): fetched before a run, put
back atomically after it. Its upload is the ingest's commit point."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attestations.state import SqliteStore
from pipelines.lake import filesystem, safe_name, write_atomic
from pipelines.leftovers import state_dir_prefix, sweep_lake_tmp, sweep_state_dirs


@contextmanager
def lake_state(lake_uri: str, chain_id: str, commit: bool = True) -> Iterator[SqliteStore]:
    """The verifier's state for ``chain_id``, fetched from the lake and put back on success.

    Runs of one chain must not overlap (the DAG allows one active run); the state file is
    replaced atomically, so a crashed run leaves the previous state in place.
    """
    fs, root = filesystem(lake_uri)
    name = f"state/{safe_name(chain_id)}.sqlite"
    remote = f"{root}/{name}"
    sweep_state_dirs()  # what killed runs left behind (pipelines.leftovers)
    sweep_lake_tmp(f"{root}/state", name.rsplit("/", 1)[-1])
    with tempfile.TemporaryDirectory(prefix=state_dir_prefix()) as tmp:
        local = Path(tmp) / "state.sqlite"
        if fs.exists(remote):
            fs.get_file(remote, str(local))
        store = SqliteStore(local)
        try:
            yield store
            store.checkpoint()
        finally:
            store.close()
        if not commit:
            return
        write_atomic(f"{lake_uri.rstrip('/')}/{name}", local.read_bytes())
