"""The verifier's memory and the ingest's commit point, in one database behind SQLAlchemy:
SQLite (a local file opened in place) or PostgreSQL (``postgresql+psycopg://``).

Every bundle is committed in one transaction that records its trusted headers, its verified
records, its row and the lake files it produced, after a check that nothing it read from the
store changed since (optimistic concurrency, under the chain's lock). Bundles are claimed by
one worker at a time; claims and the chain lock are ``flock`` files on SQLite and advisory
locks on PostgreSQL, released when their holder dies. See docs/state-store.md.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from attestations.verifier import BundleResult
from pipelines.ledger_state.errors import StateStoreError
from pipelines.ledger_state.locks import FileLock, lock_key
from pipelines.ledger_state.schema import (
    SCHEMA_VERSION,
    bundle,
    bundle_file,
    bundle_no_seq,
    chain,
    landed_invoice,
    metadata,
    pending_file,
    state_meta,
    trusted_header,
    verified_record,
)
from pipelines.ledger_state.upgrade import records_by_number

PAGE_CACHE_KIB = 64 * 1024  # SQLite's page cache per connection (its default: 2 MB)
CHUNK = 500  # keys per IN (...) query: SQLite allows 999 host parameters by default
SCHEMA_LOCK = "smecredit-state-schema"
WRITER_LOCK = "smecredit-state-writer"
INVOICE_COLUMNS = ["invoice_no", "chain_id", "record_id"]


@dataclass
class Reads:
    """What the verifier read from the store while judging one bundle: every height and
    record id it asked about, with the answer (None: not there). ``tolerated`` are header
    hashes that, trusted meanwhile where it read nothing, leave its outcome as it was (its own
    headers, and the parent its first header links to)."""

    headers: dict[int, bytes | None] = field(default_factory=dict)
    records: dict[str, bytes | None] = field(default_factory=dict)
    tolerated: dict[int, bytes] = field(default_factory=dict)

    def still_hold(self, headers: dict[int, bytes], records: dict[str, bytes]) -> bool:
        """Whether the store's answers now (``headers``, ``records``) decide the bundle alike."""
        for height, seen in self.headers.items():
            now = headers.get(height)
            if now != seen and not (seen is None and now is not None and self.tolerated.get(height) == now):
                return False
        return all(records.get(r) == seen for r, seen in self.records.items())

    def found_records(self) -> list[str]:
        """The record ids the store answered with a leaf hash: the only ones a commit must ask
        about again. Records are never removed, so they still hold unless the answer came from
        a bundle of the same window that did not commit; a record not found is one the bundle
        verified and inserts, which the primary key refuses if another bundle committed it
        meanwhile."""
        return [r for r, seen in self.records.items() if seen is not None]


@dataclass
class Commit:
    """One bundle to commit (``StateStore.commit_bundle``)."""

    result: BundleResult
    row: dict[str, Any]
    files: Iterable[str]
    reads: Reads
    invoices: Iterable[tuple[str, str]] = ()


def _chunks(items: Collection[Any]) -> Iterator[list[Any]]:
    seq = sorted(items)
    for i in range(0, len(seq), CHUNK):
        yield seq[i : i + CHUNK]


class StateStore:
    """The state store at the SQLAlchemy URL ``uri``; the schema is created or upgraded on open.

    Raises:
        StateStoreError: the database cannot be reached, or holds a newer schema.
    """

    def __init__(self, uri: str) -> None:
        url = make_url(uri)
        self.backend = url.get_backend_name()
        self._claims: dict[str, FileLock | int] = {}
        self._chains: dict[str, tuple[FileLock | int, int]] = {}
        self._chain_numbers: dict[str, int] = {}
        self._lock_conn: Connection | None = None
        self._writer: FileLock | None = None
        self._writing = 0
        if self.backend == "sqlite":
            path = Path(url.database or "")
            if not url.database or url.database == ":memory:":
                raise StateStoreError(f"state store {uri}: a SQLite store is a file, not memory")
            path.parent.mkdir(parents=True, exist_ok=True)
            self.lock_dir: Path | None = path.with_name(path.name + ".locks")
            self._writer = FileLock(self.lock_dir, WRITER_LOCK)
            self.engine = create_engine(uri, connect_args={"timeout": 300})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.lock_dir = None
            self.engine = create_engine(uri, pool_pre_ping=True, pool_size=2, max_overflow=8)
        self.uri = url.render_as_string(hide_password=True)
        try:
            if self.lock_dir is None:
                self._create_schema()
            else:
                # The first connection switches a new file to WAL, which takes SQLite's
                # exclusive lock without waiting on a busy one: workers started together
                # would fail with "database is locked". They open the store in turn.
                opening = FileLock(self.lock_dir, SCHEMA_LOCK)
                opening.acquire()
                try:
                    self._create_schema()
                finally:
                    opening.release()
        except OperationalError as exc:
            raise StateStoreError(f"state store {self.uri}: {str(exc.orig).strip()}") from None

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite: it takes the write lock first).

        On SQLite, writers also queue on a ``flock`` first. SQLite's own wait for a busy
        database polls, sleeping up to 100 ms at a time, so a worker would sleep on after the
        other's commit ended (1.3 s of 19 in a two-worker month); the kernel wakes a ``flock``
        waiter as soon as the lock is free."""
        with self._writer_lock(), self.engine.connect() as conn:
            # conn.info belongs to the pooled DBAPI connection and outlives this checkout: left
            # set, every later read on that connection would begin IMMEDIATE too, and wait for
            # another worker's write (a read per claim, 0.3 s at a time behind a window's commit).
            conn.info["immediate"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("immediate", None)

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        if self._writer is None or self._writing:  # PostgreSQL, or a write within a write
            self._writing += 1
            try:
                yield
            finally:
                self._writing -= 1
            return
        self._writer.acquire()
        self._writing = 1
        try:
            yield
        finally:
            self._writing = 0
            self._writer.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection."""
        with self.engine.connect() as conn:
            yield conn
            conn.rollback()

    def _locks(self) -> Connection:
        if self._lock_conn is None:
            self._lock_conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._lock_conn

    def _create_schema(self) -> None:
        with self.write() as conn:
            if self.backend == "postgresql":  # concurrent first runs create it once
                conn.execute(select(func.pg_advisory_xact_lock(lock_key(SCHEMA_LOCK))))
            metadata.create_all(conn)
            found = conn.execute(select(state_meta.c.value).where(state_meta.c.key == "schema_version"))
            version = found.scalar()
            if version is None:
                conn.execute(insert(state_meta).values(key="schema_version", value=SCHEMA_VERSION))
            elif int(version) > int(SCHEMA_VERSION):
                raise StateStoreError(
                    f"state store {self.uri} has schema version {version}; this release knows "
                    f"{SCHEMA_VERSION}: upgrade smecredit"
                )
            elif int(version) < int(SCHEMA_VERSION):  # its new tables were just created
                if int(version) < 3:
                    records_by_number(conn, self.backend)
                key = state_meta.c.key == "schema_version"
                conn.execute(update(state_meta).where(key).values(value=SCHEMA_VERSION))

    def close(self) -> None:
        """Release every claim and lock, and close the connections."""
        for name in list(self._claims):
            self.release(name)
        if self._lock_conn is not None:
            self._lock_conn.close()
            self._lock_conn = None
        for held, _ in self._chains.values():
            if isinstance(held, FileLock):
                held.release()
        self._chains.clear()
        self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the verifier remembers -----------------------------------------------------

    def trusted_headers(self, chain_id: str, heights: Collection[int]) -> dict[int, bytes]:
        """Header hashes already trusted at any of ``heights``."""
        with self.read() as conn:
            return self._headers(conn, chain_id, heights)

    def known_records(self, chain_id: str, record_ids: Collection[str]) -> dict[str, bytes]:
        """Leaf hashes of already verified records among ``record_ids``."""
        with self.read() as conn:
            return self._known(conn, chain_id, record_ids)

    def _known(self, conn: Connection, chain_id: str, record_ids: Collection[str]) -> dict[str, bytes]:
        number = self._chain_no(conn, chain_id)
        if number is None:  # the chain has no record yet
            return {}
        r = verified_record.c
        found: dict[str, bytes] = {}
        for chunk in _chunks(record_ids):
            query = select(r.record_id, r.leaf_hash).where(r.chain_no == number, r.record_id.in_(chunk))
            found.update((i, bytes(h)) for i, h in conn.execute(query))
        return found

    def _chain_no(self, conn: Connection, chain_id: str) -> int | None:
        """The number of ``chain_id`` (table ``chain``), or None while it has none. A number
        read is kept: once committed it never changes."""
        number = self._chain_numbers.get(chain_id)
        if number is None:
            found = conn.scalar(select(chain.c.chain_no).where(chain.c.chain_id == chain_id))
            if found is not None:
                self._chain_numbers[chain_id] = number = int(found)
        return number

    def chain_number(self, conn: Connection, chain_id: str) -> int:
        """The number of ``chain_id``, given it first if it has none: within a write
        transaction, under the chain's lock (a number given is not kept until it is read
        again, as the transaction may yet roll back)."""
        number = self._chain_no(conn, chain_id)
        if number is None:
            conn.execute(insert(chain).values(chain_id=chain_id))
            query = select(chain.c.chain_no).where(chain.c.chain_id == chain_id)
            number = int(conn.execute(query).scalar_one())
        return number

    def bundle_numbers(self, conn: Connection, count: int) -> list[int]:
        """``count`` new bundle numbers (``bundle.bundle_no``), within a write transaction:
        PostgreSQL's sequence, where several chains commit at once; on SQLite, the one
        writer numbers on from the largest."""
        if self.backend == "postgresql":
            return [int(conn.execute(select(bundle_no_seq.next_value())).scalar_one()) for _ in range(count)]
        start = int(conn.execute(select(func.coalesce(func.max(bundle.c.bundle_no), 0))).scalar_one()) + 1
        return list(range(start, start + count))

    @staticmethod
    def _headers(conn: Connection, chain_id: str, heights: Collection[int]) -> dict[int, bytes]:
        t = trusted_header.c
        found: dict[int, bytes] = {}
        for chunk in _chunks(heights):
            query = select(t.height, t.header_hash).where(t.chain_id == chain_id, t.height.in_(chunk))
            found.update((int(h), bytes(d)) for h, d in conn.execute(query))
        return found

    def landed_invoices(self, numbers: Collection[str]) -> set[str]:
        """Which of the invoice ``numbers`` are on an invoice row landed in the lake."""
        found: set[str] = set()
        with self.read() as conn:
            for chunk in _chunks(set(numbers)):
                query = select(landed_invoice.c.invoice_no).where(landed_invoice.c.invoice_no.in_(chunk))
                found.update(conn.execute(query).scalars())
        return found

    # -- bundles -------------------------------------------------------------------------

    def committed(self, names: Iterable[str] | None = None) -> set[str]:
        """Which of ``names`` (all, when None) have a committed row."""
        with self.read() as conn:
            if names is None:
                return set(conn.execute(select(bundle.c.bundle_name)).scalars())
            found: set[str] = set()
            for chunk in _chunks(set(names)):
                query = select(bundle.c.bundle_name).where(bundle.c.bundle_name.in_(chunk))
                found.update(conn.execute(query).scalars())
            return found

    def bundle_runs(self) -> dict[str, dict[str, Any]]:
        """The summary of every committed bundle, by bundle name (its location)."""
        with self.read() as conn:
            rows = conn.execute(select(bundle.c.bundle_name, bundle.c.summary))
            return {name: json.loads(summary) for name, summary in rows}

    def bundle_row(self, name: str) -> dict[str, Any] | None:
        """The committed row of bundle ``name`` with its files, or None."""
        with self.read() as conn:
            row = conn.execute(select(bundle).where(bundle.c.bundle_name == name)).mappings().first()
            if row is None:
                return None
            files = conn.execute(select(bundle_file.c.path).where(bundle_file.c.bundle_name == name))
            return {**row, "files": sorted(files.scalars())}

    def pending_files(self, name: str | None = None) -> dict[str, list[str]]:
        """Lake files recorded by uncommitted attempts, by bundle (of ``name`` only, if given)."""
        query = select(pending_file.c.bundle_name, pending_file.c.path)
        if name is not None:
            query = query.where(pending_file.c.bundle_name == name)
        out: dict[str, list[str]] = {}
        with self.read() as conn:
            for bundle_name, path in conn.execute(query.order_by(pending_file.c.path)):
                out.setdefault(bundle_name, []).append(path)
        return out

    def plan_files(self, name: str, paths: Iterable[str]) -> None:
        """Record that bundle ``name`` is about to write ``paths`` (before it writes them)."""
        self.plan_bundles({name: paths})

    def plan_bundles(self, planned: Mapping[str, Iterable[str]]) -> None:
        """``plan_files`` for several bundles in one transaction (a window's, before any of
        them writes: one wait for the write lock instead of one per bundle)."""
        with self.write() as conn:
            for name, paths in sorted(planned.items()):
                query = select(pending_file.c.path).where(pending_file.c.bundle_name == name)
                have = set(conn.execute(query).scalars())
                rows = [{"bundle_name": name, "path": p} for p in sorted(set(paths) - have)]
                if rows:
                    conn.execute(insert(pending_file), rows)

    def clear_pending(self, name: str) -> None:
        """Forget the pending files of ``name`` (once they are removed from the lake)."""
        with self.write() as conn:
            conn.execute(delete(pending_file).where(pending_file.c.bundle_name == name))

    # -- claims and locks ----------------------------------------------------------------

    def try_claim(self, name: str) -> bool:
        """Claim bundle ``name`` for this worker unless another holds it; whether it did."""
        if name in self._claims:
            return True
        if self.lock_dir is not None:
            lock = FileLock(self.lock_dir / "bundles", name)
            if not lock.acquire(wait=False):
                return False
            self._claims[name] = lock
            return True
        key = lock_key(f"bundle:{name}")
        if not self._locks().execute(select(func.pg_try_advisory_lock(key))).scalar():
            return False
        self._claims[name] = key
        return True

    def release(self, name: str) -> None:
        """Give up the claim on ``name``."""
        held = self._claims.pop(name, None)
        if held is not None:
            self._let_go(held)

    @contextmanager
    def chain_lock(self, chain_id: str) -> Iterator[None]:
        """Hold the chain's lock (re-entrant within this store): no other worker commits a
        bundle of the chain meanwhile."""
        held = self._chains.get(chain_id)
        if held is not None:
            self._chains[chain_id] = (held[0], held[1] + 1)
        else:
            self._chains[chain_id] = (self._take_chain(chain_id), 1)
        try:
            yield
        finally:
            lock, depth = self._chains[chain_id]
            if depth > 1:
                self._chains[chain_id] = (lock, depth - 1)
            else:
                del self._chains[chain_id]
                self._let_go(lock)

    @contextmanager
    def named_lock(self, name: str) -> Iterator[None]:
        """Hold the lock ``name``, waiting for it: for the lake's tables that several processes
        read, change and write back outside ingest (the alert tables). It dies with its holder,
        as the claims do."""
        held = self._take("named", name, f"named:{name}")
        try:
            yield
        finally:
            self._let_go(held)

    def _take_chain(self, chain_id: str) -> FileLock | int:
        return self._take("chains", chain_id, f"chain:{chain_id}")

    def _take(self, folder: str, name: str, key: str) -> FileLock | int:
        """Wait for a lock: the ``flock`` of ``name`` under ``<locks>/<folder>/`` (SQLite), or
        the advisory lock of ``key`` (PostgreSQL)."""
        if self.lock_dir is not None:
            lock = FileLock(self.lock_dir / folder, name)
            lock.acquire()
            return lock
        number = lock_key(key)
        self._locks().execute(select(func.pg_advisory_lock(number)))
        return number

    def _let_go(self, held: FileLock | int) -> None:
        """Release a lock ``_take`` or ``try_claim`` took."""
        if isinstance(held, FileLock):
            held.release()
        else:
            self._locks().execute(select(func.pg_advisory_unlock(held)))

    # -- the commit ----------------------------------------------------------------------

    def commit_bundle(
        self,
        chain_id: str,
        result: BundleResult,
        row: dict[str, Any],
        files: Iterable[str],
        reads: Reads,
        invoices: Iterable[tuple[str, str]] = (),
    ) -> bool:
        """Record bundle ``result`` (its log ``row``, the lake ``files`` it wrote, the headers
        it trusted, the records it verified and the ``(invoice_no, record_id)`` of the invoice
        rows it landed) in one transaction under the chain's lock, unless what it ``reads``
        changed meanwhile: then nothing is written and False returned (the caller judges the
        bundle again).

        Raises:
            StateStoreError: the bundle is committed already (its claim was not held).
        """
        return self.commit_bundles(chain_id, [Commit(result, row, files, reads, invoices)]) == [True]

    def commit_bundles(self, chain_id: str, commits: Sequence[Commit]) -> list[bool]:
        """``commit_bundle`` for several bundles of one chain in one transaction, in order,
        each under its own savepoint: a bundle whose reads changed, or whose records another
        bundle committed meanwhile, is left out (False) and the others are recorded (True). One
        transaction for a window's bundles writes each page of the record index once, where a
        commit per bundle rewrote the pages its records fell on every time (a month of the
        50,000-firm world: 1.1 GB of log and database writes against about 0.3 GB, with the
        page cache of ``PAGE_CACHE_KIB``).

        Raises:
            StateStoreError: a bundle is committed already (its claim was not held); nothing
                of the others is recorded either.
        """
        done: list[bool] = []
        if not commits:
            return done
        with self.chain_lock(chain_id), self.write() as conn:
            for c in commits:
                done.append(self._commit_one(conn, chain_id, c))
        if any(done):
            self._checkpoint()
        return done

    def _commit_one(self, conn: Connection, chain_id: str, c: Commit) -> bool:
        name = c.result.name
        if conn.execute(select(bundle.c.bundle_name).where(bundle.c.bundle_name == name)).first():
            raise StateStoreError(f"bundle {name} is committed already")
        savepoint = conn.begin_nested()
        try:
            headers = self._headers(conn, chain_id, c.reads.headers)
            records = self._known(conn, chain_id, c.reads.found_records())
            if not c.reads.still_hold(headers, records):
                savepoint.rollback()  # nothing of this bundle was written
                return False
            self._insert(conn, chain_id, c.result, c.row, sorted(set(c.files)), headers, c.invoices)
        except IntegrityError:  # a record the read check did not cover: judge it again
            savepoint.rollback()
            return False
        savepoint.commit()
        return True

    def _checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database, once the chain's lock and the
        write lock are let go: SQLite would do it within the commit of every ~1,000 pages,
        while the other workers wait (a third of the commit's time). ``PASSIVE`` waits for
        no reader or writer; what it leaves is copied by the next one."""
        if self.backend != "sqlite" or self._chains or self._writing:
            return
        with self.engine.connect() as conn:
            sqlite = conn.connection.driver_connection  # outside a transaction: not through conn
            assert sqlite is not None
            sqlite.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _insert(
        self,
        conn: Connection,
        chain_id: str,
        result: BundleResult,
        row: dict[str, Any],
        files: list[str],
        headers: dict[int, bytes],
        invoices: Iterable[tuple[str, str]],
    ) -> None:
        new_headers = [
            {"chain_id": chain_id, "height": h, "header_hash": d, "sealed_at": result.sealed_at[h]}
            for h, d in sorted(result.trusted_headers.items())
            if h not in headers
        ]
        if new_headers:
            conn.execute(insert(trusted_header), new_headers)
        name = result.name
        (number,) = self.bundle_numbers(conn, 1)
        chain_no = self.chain_number(conn, chain_id)
        records = sorted(((r.record_id, r.leaf_hash) for r in result.verified), key=itemgetter(0))
        columns = ["chain_no", "record_id", "leaf_hash", "bundle_no"]
        for i in range(0, len(records), 10_000):
            insert_tuples(
                conn, verified_record, columns, [(chain_no, r, h, number) for r, h in records[i : i + 10_000]]
            )
        summary = {**result.summary(), "quarantined_by_reason": json.loads(row["quarantined_by_reason"])}
        conn.execute(
            insert(bundle).values(
                bundle_name=name,
                bundle_no=number,
                chain_id=chain_id,
                bundle_id=result.bundle_id,
                outcome=str(row["validation"]),
                lines=int(row["lines"]),
                verified=int(row["verified"]),
                duplicates=int(row["duplicates"]),
                quarantined=int(row["quarantined"]),
                summary=json.dumps(summary, sort_keys=True),
                committed_at=datetime.now(UTC),
            )
        )
        if files:
            conn.execute(insert(bundle_file), [{"bundle_name": name, "path": p} for p in files])
        numbers = sorted({(n, chain_id, r) for n, r in invoices if n is not None})
        insert_tuples(conn, landed_invoice, INVOICE_COLUMNS, numbers, skip_known=True)
        conn.execute(delete(pending_file).where(pending_file.c.bundle_name == name))

    # -- settings kept in the store --------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """The value of ``key`` in ``state_meta``, or None."""
        with self.read() as conn:
            found = conn.execute(select(state_meta.c.value).where(state_meta.c.key == key))
            value = found.scalar()
            return None if value is None else str(value)


def insert_tuples(
    conn: Connection, table: Table, columns: list[str], rows: list[tuple[Any, ...]], skip_known: bool = False
) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``) into ``table`` through the driver's
    executemany: SQLAlchemy's own spends more per row on its parameters than the database on
    the insert, and bulk inserts here run under the chain's lock, which every worker waits for.
    ``skip_known``: rows whose key is there already are left out (``ON CONFLICT DO NOTHING``,
    on both backends) instead of failing the transaction."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(statement + (" ON CONFLICT DO NOTHING" if skip_known else ""), rows)


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Transactions are begun by hand (see _sqlite_begin); WAL lets readers run beside the
    # writer; NORMAL sync stays consistent on a crash (a power loss may undo the last commit,
    # whose bundle is then ingested again: its files are recorded as pending first).
    dbapi_conn.isolation_level = None
    dbapi_conn.execute("PRAGMA journal_mode=WAL")
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")
    dbapi_conn.execute("PRAGMA busy_timeout=300000")
    # Commits leave the log to be copied after the chain's lock is let go (_checkpoint);
    # SQLite copies it within a commit only when the log passes 40 MB.
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=10000")
    # A window's commit touches thousands of pages of the record index (record ids fall all
    # over it); SQLite's default 2 MB cache would spill them to the log before the commit and
    # write many twice. At most this much memory, used only as pages are touched.
    dbapi_conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")
