"""The verifier's memory during an ingest run: the state store (``pipelines.ledger_state``),
opened in place, plus what this run verified but has not committed yet.

``StateView`` is the ``VerifierStore`` the verifier sees. Bundles are judged a window at a
time and committed one by one after their files are written, so the view answers from the
bundles judged earlier in the window first, then from the store, and notes every answer it
gave per bundle: the store's commit checks those answers still hold (``Reads``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager, suppress

from attestations.verifier import BundleFiles, BundleResult
from attestations.verifier.bundle import split_lines
from attestations.verifier.headers import parse_header_line
from pipelines.ingest.config import IngestConfig
from pipelines.lake import filesystem, safe_name
from pipelines.ledger_state import Reads, StateStore, index_landed_invoices, migrate_old_state, state_uri
from pipelines.leftovers import sweep_lake_tmp, sweep_state_dirs


class StateView:
    """The store as of this run: committed state plus the window's judged bundles."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._headers: dict[int, bytes] = {}
        self._records: dict[str, bytes] = {}
        self._reading = Reads()
        self.reads: dict[str, Reads] = {}

    def trusted_headers(self, chain_id: str, heights: Collection[int]) -> dict[int, bytes]:
        found = {h: self._headers[h] for h in heights if h in self._headers}
        found.update(self.store.trusted_headers(chain_id, [h for h in heights if h not in found]))
        self._reading.headers.update({h: found.get(h) for h in heights})
        return found

    def known_records(self, chain_id: str, record_ids: Collection[str]) -> dict[str, bytes]:
        found = {r: self._records[r] for r in record_ids if r in self._records}
        found.update(self.store.known_records(chain_id, [r for r in record_ids if r not in found]))
        self._reading.records.update({r: found.get(r) for r in record_ids})
        return found

    def commit(self, chain_id: str, result: BundleResult) -> None:
        """Keep ``result`` for the bundles judged after it (the store commit comes later)."""
        self._headers.update(result.trusted_headers)
        self._records.update((r.record_id, r.leaf_hash) for r in result.verified)
        self.reads[result.name] = self._reading
        self._reading = Reads()

    def settle(self, result: BundleResult) -> None:
        """Forget ``result`` once it is committed (the store answers for it) or abandoned."""
        for height in result.trusted_headers:
            self._headers.pop(height, None)
        for r in result.verified:
            self._records.pop(r.record_id, None)
        self.reads.pop(result.name, None)


def tolerated_headers(files: BundleFiles, hash_alg: str) -> dict[int, bytes]:
    """The header hashes a bundle's outcome does not change for, when they are trusted by
    another bundle after it was judged: each of its own headers' hash at its height, and its
    first header's ``prev_hash`` at the height below (``Reads.tolerated``)."""
    out: dict[int, bytes] = {}
    lines = split_lines(files.headers) if files.headers is not None else []
    for i, (_, raw) in enumerate(lines):
        parsed = parse_header_line(i, raw, hash_alg)
        if parsed.height is None or parsed.header_hash is None:
            continue
        out.setdefault(parsed.height, parsed.header_hash)
        if i == 0 and parsed.header is not None:
            with suppress(ValueError):
                out.setdefault(parsed.height - 1, bytes.fromhex(str(parsed.header.get("prev_hash"))))
    return out


@contextmanager
def ingest_state(cfg: IngestConfig, chain_id: str) -> Iterator[StateStore]:
    """The state store of ``cfg`` (``SMECREDIT_STATE_URI``, else the local lake's SQLite
    file), with the chain's old ``state/<chain>.sqlite`` imported and the lake's landed
    invoices indexed on first use.

    Raises:
        ConfigError: the lake is remote and no state URI is set, or the URI is unusable.
        StateStoreError: the store cannot be opened.
    """
    uri = state_uri(cfg.lake_uri, cfg.state_uri)
    # What runs of the old layout (a state file copied down and up) left when killed.
    sweep_state_dirs()
    sweep_lake_tmp(f"{cfg.lake_uri.rstrip('/')}/state", f"{safe_name(chain_id)}.sqlite")
    store = StateStore(uri)
    try:
        migrate_old_state(store, cfg.lake_uri, chain_id)
        index_landed_invoices(store, cfg.lake_uri)
        yield store
    finally:
        store.close()


def remove_files(lake_uri: str, paths: Iterable[str]) -> None:
    """Remove the lake files ``paths`` (relative to the lake) that exist."""
    fs, root = filesystem(lake_uri)
    for path in paths:
        full = f"{root}/{path}"
        if fs.exists(full):
            fs.rm(full)


def claim(store: StateStore, lake_uri: str, name: str) -> bool:
    """Claim bundle ``name`` for this worker: False when another worker holds it or it is
    committed. A claimed bundle's files from earlier attempts that never committed (a killed
    run, a failed landing) are removed first, so the lake holds only committed bundles' files
    and the ones this worker writes now."""
    if not store.try_claim(name):
        return False
    if store.committed([name]):
        store.release(name)
        return False
    leftovers = store.pending_files(name).get(name, [])
    if leftovers:
        remove_files(lake_uri, leftovers)
        store.clear_pending(name)
    return True
