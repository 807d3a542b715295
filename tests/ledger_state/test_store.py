"""The state store on both backends (a SQLite file and a real PostgreSQL server): schema,
the verifier's memory, the per-bundle commit and its read check, claims and the chain lock,
locks released by a killed holder, and the import of the old per-chain SQLite state."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from attestations.state import SqliteStore
from attestations.verifier import BundleResult, VerifiedRecord
from pipelines.config import ConfigError
from pipelines.ingest.gate import invoice_known
from pipelines.ledger_state import (
    Commit,
    Reads,
    StateStore,
    StateStoreError,
    index_landed_invoices,
    migrate_old_state,
    state_uri,
)
from pipelines.ledger_state.locks import FileLock
from pipelines.ledger_state.schema import (
    SCHEMA_VERSION,
    bundle,
    bundle_no_seq,
    chain,
    landed_invoice,
    state_meta,
    verified_record,
)
from pipelines.ledger_state.store import WRITER_LOCK
from tests.conftest import ROOT

CHAIN = "test-chain"


def result(name: str, records: dict[str, bytes], heights: dict[int, bytes] | None = None) -> BundleResult:
    """A bundle outcome that verified ``records`` (id -> leaf hash) and trusted ``heights``."""
    heights = heights if heights is not None else {1: b"h1"}
    out = BundleResult(
        name=name, bundle_id=f"id-{name}", source="supply_chain", chain_id=CHAIN, lines=len(records)
    )
    for i, (rid, leaf) in enumerate(sorted(records.items())):
        out.verified.append(VerifiedRecord(i + 1, rid, 1, i, "{}", leaf, "2025-01-01T00:00:00Z", {}))
    out.trusted_headers = dict(heights)
    out.sealed_at = {h: "2025-01-01T00:00:00Z" for h in heights}
    return out


def row(res: BundleResult) -> dict[str, object]:
    n = len(res.verified)
    return {"validation": "passed", "lines": n, "verified": n, "duplicates": 0, "quarantined": 0,
            "quarantined_by_reason": "{}"}  # fmt: skip


def reads_of(store: StateStore, res: BundleResult) -> Reads:
    """What a verifier judging ``res`` now reads."""
    ids = [r.record_id for r in res.verified]
    known = store.known_records(CHAIN, ids)
    trusted = store.trusted_headers(CHAIN, res.trusted_headers)
    return Reads({h: trusted.get(h) for h in res.trusted_headers}, {r: known.get(r) for r in ids})


def test_a_bundle_commits_its_records_headers_row_and_files(state_uri: str) -> None:
    with StateStore(state_uri) as store:
        res = result("b1", {"r1": b"L1", "r2": b"L2"}, {5: b"H5", 6: b"H6"})
        reads = reads_of(store, res)
        store.plan_files("b1", ["verified/a.parquet", "ingest_log/b.parquet"])
        assert store.pending_files() == {"b1": ["ingest_log/b.parquet", "verified/a.parquet"]}
        assert store.commit_bundle(
            CHAIN, res, row(res), ["verified/a.parquet", "ingest_log/b.parquet"], reads
        )
        assert store.known_records(CHAIN, ["r1", "r2", "r3"]) == {"r1": b"L1", "r2": b"L2"}
        assert store.trusted_headers(CHAIN, [4, 5, 6]) == {5: b"H5", 6: b"H6"}
        assert store.known_records("other-chain", ["r1"]) == {}
        assert store.committed(["b1", "b2"]) == {"b1"} and store.committed() == {"b1"}
        assert store.pending_files() == {}
        committed = store.bundle_row("b1")
        assert committed is not None
        assert committed["files"] == ["ingest_log/b.parquet", "verified/a.parquet"]
        assert (committed["outcome"], committed["verified"], committed["bundle_id"]) == ("passed", 2, "id-b1")
        assert store.bundle_runs()["b1"]["verified"] == 2
        with pytest.raises(StateStoreError, match="committed already"):
            store.commit_bundle(CHAIN, res, row(res), [], Reads())
    with StateStore(state_uri) as again:  # reopened: the schema is there, the data too
        assert again.known_records(CHAIN, ["r2"]) == {"r2": b"L2"}
        assert again.meta("schema_version") == SCHEMA_VERSION


def test_a_commit_whose_reads_went_stale_writes_nothing(state_uri: str) -> None:
    with StateStore(state_uri) as one, StateStore(state_uri) as two:
        mine = result("mine", {"r1": b"L1", "r2": b"L2"})
        theirs = result("theirs", {"r2": b"L2"}, {1: b"h1"})
        my_reads = reads_of(one, mine)  # judged before the other bundle committed
        assert two.commit_bundle(CHAIN, theirs, row(theirs), ["x"], reads_of(two, theirs))
        one.plan_files("mine", ["verified/m.parquet"])
        assert not one.commit_bundle(CHAIN, mine, row(mine), ["verified/m.parquet"], my_reads)
        assert one.committed(["mine"]) == set()
        assert one.known_records(CHAIN, ["r1"]) == {}
        assert one.pending_files("mine") == {"mine": ["verified/m.parquet"]}  # for the cleanup
        # a verifier that still took r2 for new is refused by the unique constraint
        assert one.commit_bundle(CHAIN, mine, row(mine), [], reads_of(one, mine)) is False
        mine = result("mine", {"r1": b"L1"})
        assert one.commit_bundle(CHAIN, mine, row(mine), ["verified/m.parquet"], reads_of(one, mine))
        assert one.known_records(CHAIN, ["r1", "r2"]) == {"r1": b"L1", "r2": b"L2"}


def test_a_window_commits_its_bundles_at_once_leaving_out_only_those_that_went_stale(state_uri: str) -> None:
    with StateStore(state_uri) as one, StateStore(state_uri) as two:
        a = result("a", {"r1": b"L1"}, {1: b"h1"})
        b = result("b", {"r2": b"L2", "r3": b"L3"}, {2: b"h2"})
        c = result("c", {"r4": b"L4"}, {3: b"h3"})
        d = result("d", {"r5": b"L5"}, {4: b"h4"})
        window = [(x, reads_of(one, x)) for x in (a, b, c, d)]  # judged before the other worker
        theirs = result("theirs", {"r3": b"L3"}, {9: b"h9"})
        assert two.commit_bundle(CHAIN, theirs, row(theirs), [], reads_of(two, theirs))
        window[2][1].records["r2"] = b"L2"  # c took r2 for known, from b's judgement
        commits = [Commit(x, row(x), [f"verified/{x.name}"], reads) for x, reads in window]
        for x in (a, b, c, d):
            one.plan_files(x.name, [f"verified/{x.name}"])
        # b's r3 was committed meanwhile (the key refuses it); c read b's r2, which b did not commit
        assert one.commit_bundles(CHAIN, commits) == [True, False, False, True]
        assert one.committed(["a", "b", "c", "d"]) == {"a", "d"}
        assert one.known_records(CHAIN, ["r1", "r2", "r4", "r5"]) == {"r1": b"L1", "r5": b"L5"}
        assert one.trusted_headers(CHAIN, [1, 2, 3, 4]) == {1: b"h1", 4: b"h4"}
        assert set(one.pending_files()) == {"b", "c"}  # the files of those left out, to remove
        assert one.commit_bundles(CHAIN, []) == []
        again = result("again", {"r6": b"L6"})
        with pytest.raises(StateStoreError, match="committed already"):  # nothing of the window stays
            one.commit_bundles(CHAIN, [Commit(again, row(again), [], reads_of(one, again)), *commits[:1]])
        assert one.committed(["again"]) == set() and one.known_records(CHAIN, ["r6"]) == {}


def test_a_header_trusted_meanwhile_makes_the_commit_stale(state_uri: str) -> None:
    with StateStore(state_uri) as store:
        first = result("first", {"a": b"A"}, {9: b"H9"})
        second = result("second", {"b": b"B"}, {10: b"H10"})
        second_reads = Reads({9: None, 10: None}, {"b": None})  # it asked about its parent
        assert store.commit_bundle(CHAIN, first, row(first), [], reads_of(store, first))
        assert not store.commit_bundle(CHAIN, second, row(second), [], second_reads)
        second_reads.tolerated = {9: b"OTHER", 10: b"H10"}  # it links to another parent: stale
        assert not store.commit_bundle(CHAIN, second, row(second), [], second_reads)
        second_reads.tolerated = {9: b"H9", 10: b"H10"}  # the parent it links to: same outcome
        assert store.commit_bundle(CHAIN, second, row(second), [], second_reads)
        assert store.trusted_headers(CHAIN, [9, 10]) == {9: b"H9", 10: b"H10"}


def test_one_worker_claims_a_bundle_and_the_chain_lock_excludes_others(state_uri: str) -> None:
    with StateStore(state_uri) as one, StateStore(state_uri) as two:
        assert one.try_claim("b") and one.try_claim("b")  # again by its holder
        assert not two.try_claim("b")
        assert two.try_claim("c")
        one.release("b")
        assert two.try_claim("b")
        done = threading.Event()
        res = result("locked", {"z": b"Z"})

        def commit() -> None:
            two.commit_bundle(CHAIN, res, row(res), [], reads_of(two, res))
            done.set()

        with one.chain_lock(CHAIN), one.chain_lock(CHAIN):  # re-entrant for its holder
            worker = threading.Thread(target=commit)
            worker.start()
            assert not done.wait(1.0)  # blocked on the chain lock
        worker.join(30)
        assert done.is_set() and one.committed(["locked"]) == {"locked"}


def test_a_window_records_every_bundles_files_as_pending_at_once(state_uri: str) -> None:
    with StateStore(state_uri) as store:
        store.plan_bundles(
            {"b1": ["verified/1.parquet", "log/1.parquet"], "b2": ["verified/2.parquet"], "b3": []}
        )
        store.plan_bundles({"b2": ["verified/2.parquet", "log/2.parquet"]})  # again: merged
        assert store.pending_files() == {
            "b1": ["log/1.parquet", "verified/1.parquet"],
            "b2": ["log/2.parquet", "verified/2.parquet"],
        }
        res = result("b1", {"r1": b"L1"})
        assert store.commit_bundle(
            CHAIN, res, row(res), ["verified/1.parquet", "log/1.parquet"], reads_of(store, res)
        )
        assert store.pending_files() == {"b2": ["log/2.parquet", "verified/2.parquet"]}  # b2 not landed yet


def test_sqlite_writers_queue_for_the_write_lock_instead_of_failing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'ledger-state.sqlite'}"
    with StateStore(uri) as one, StateStore(uri) as two:
        done = threading.Event()

        def plan() -> None:
            two.plan_files("b", ["verified/b.parquet"])
            done.set()

        writer = FileLock(tmp_path / "ledger-state.sqlite.locks", WRITER_LOCK)
        with one.write():
            # held as a flock, which the kernel hands on at once (SQLite's busy wait polls)
            assert not writer.acquire(wait=False)
            worker = threading.Thread(target=plan)
            worker.start()
            assert not done.wait(1.0)  # queued behind the open write transaction
        worker.join(30)
        assert done.is_set() and one.pending_files() == {"b": ["verified/b.parquet"]}
        assert writer.acquire(wait=False)
        writer.release()


def test_reads_do_not_wait_for_another_workers_write(state_uri: str) -> None:
    with StateStore(state_uri) as one, StateStore(state_uri) as two:
        res = result("b1", {"r1": b"L1"})
        assert one.commit_bundle(CHAIN, res, row(res), [], reads_of(one, res))  # one has written
        answers: list[object] = []

        def read() -> None:  # on the connection one wrote with
            answers.append((one.committed(["b1"]), one.known_records(CHAIN, ["r1"]), one.pending_files()))

        with two.write():  # another worker's write transaction stays open meanwhile
            reader = threading.Thread(target=read)
            reader.start()
            reader.join(10)
            assert answers == [({"b1"}, {"r1": b"L1"}, {})], "a read waited for the other worker's write"


def test_a_sqlite_commit_leaves_its_records_in_the_database_file(tmp_path: Path) -> None:
    # The write-ahead log is copied into the database once the commit let its locks go, so
    # the file alone (without its -wal) holds every committed record.
    path = tmp_path / "ledger-state.sqlite"
    with StateStore(f"sqlite:///{path}") as store:
        res = result("big", {f"r{i:05d}": bytes([i % 256]) * 32 for i in range(20_000)})
        assert store.commit_bundle(CHAIN, res, row(res), [], reads_of(store, res))
        copy = tmp_path / "copy.sqlite"
        copy.write_bytes(path.read_bytes())
        with sqlite3.connect(copy) as db:
            assert db.execute("SELECT count(*) FROM verified_record").fetchone() == (20_000,)


def test_a_named_lock_has_one_holder_at_a_time(state_uri: str) -> None:
    with StateStore(state_uri) as one, StateStore(state_uri) as two:
        done = threading.Event()

        def take() -> None:
            with two.named_lock("alerts"):
                done.set()

        with one.named_lock("alerts"):
            with two.named_lock("other"):  # another name is another lock
                pass
            worker = threading.Thread(target=take)
            worker.start()
            assert not done.wait(1.0)
        worker.join(30)
        assert done.is_set()


CLAIM_AND_DIE = """
import os, signal, sys
from pipelines.ledger_state import StateStore
store = StateStore(sys.argv[1])
assert store.try_claim("held")
store._take_chain("test-chain")
print("claimed", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def test_a_killed_workers_claim_and_chain_lock_are_released(state_uri: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", CLAIM_AND_DIE, state_uri], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
        with StateStore(state_uri) as store:
            assert not store.try_claim("held")
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(30)
            for _ in range(100):  # the server notices the dropped connection at once, or nearly
                if store.try_claim("held"):
                    break
                threading.Event().wait(0.1)
            assert store.try_claim("held")
            with store.chain_lock(CHAIN):
                pass
    finally:
        holder.kill()
        holder.wait()


OPEN_AT = """
import sys, time
from pipelines.ledger_state import StateStore
uri, at, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
time.sleep(max(0.0, at - time.time()))
with StateStore(uri) as store:
    store.plan_files(name, [f"verified/{name}.parquet"])
print("opened", flush=True)
"""


def test_workers_opening_a_new_store_at_the_same_moment_all_open_it(state_uri: str) -> None:
    # The first open creates the store (on SQLite, switches the file to WAL): several
    # workers started together must not fail with "database is locked".
    at = str(time.time() + 2.0)
    workers = [
        subprocess.Popen([sys.executable, "-c", OPEN_AT, state_uri, at, f"w{i}"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(6)
    ]  # fmt: skip
    outcomes = [w.communicate(timeout=120) for w in workers]
    assert [out for out, _ in outcomes] == ["opened\n"] * 6, [err for _, err in outcomes]
    with StateStore(state_uri) as store:
        assert sorted(store.pending_files()) == [f"w{i}" for i in range(6)]


def test_the_invoices_a_commit_landed_are_looked_up(state_uri: str) -> None:
    with StateStore(state_uri) as store:
        res = result("b1", {"r1": b"L1", "r2": b"L2"})
        changed = reads_of(store, res)
        changed.headers[1] = b"not what is there"
        assert not store.commit_bundle(CHAIN, res, row(res), [], changed, [("INV-1", "r1")])
        assert store.landed_invoices(["INV-1"]) == set()  # nothing of a refused commit stays
        landed = [("INV-1", "r1"), ("INV-2", "r2"), ("INV-1", "r1")]
        assert store.commit_bundle(CHAIN, res, row(res), [], reads_of(store, res), landed)
        assert store.landed_invoices(["INV-1", "INV-3"]) == {"INV-1"}
        assert store.landed_invoices([]) == set()


def test_a_waybill_knows_the_invoices_of_its_window_and_those_landed(state_uri: str) -> None:
    with StateStore(state_uri) as store:
        res = result("b1", {"r1": b"L1"})
        assert store.commit_bundle(CHAIN, res, row(res), [], reads_of(store, res), [("INV-1", "r1")])
        waybills = pa.chunked_array([["INV-1", None], ["INV-2", "INV-9", "INV-1"]], type=pa.string())
        window = [pa.chunked_array([["INV-2"]], type=pa.string()), pa.chunked_array([[None, "INV-3"]])]
        known = invoice_known(store, waybills, window)
        assert known.to_pylist() == [True, False, True, False, True]  # a missing number is unknown
        assert invoice_known(store, waybills, []).to_pylist() == [True, False, False, False, True]


def as_version(
    version: str, state_uri: str, records: dict[str, tuple[bytes, str]], bundles: list[str]
) -> None:
    """Turn a new store into one as schema ``version`` (1 or 2) wrote it, holding ``records``
    of CHAIN (id -> leaf hash and bundle name) and ``bundles`` committed in that order."""
    old = MetaData()
    old_records = Table(
        "verified_record", old, Column("chain_id", String(200), primary_key=True),
        Column("record_id", Text, primary_key=True), Column("leaf_hash", LargeBinary, nullable=False),
        Column("bundle_name", Text, nullable=False), sqlite_with_rowid=False,
    )  # fmt: skip
    old_bundles = Table(
        "bundle", old, Column("bundle_name", Text, primary_key=True),
        *(Column(c, String(200), nullable=False) for c in ("chain_id", "bundle_id", "outcome", "summary")),
        *(Column(c, Integer, nullable=False) for c in ("lines", "verified", "duplicates", "quarantined")),
        Column("committed_at", DateTime(timezone=True), nullable=False),
    )  # fmt: skip
    with StateStore(state_uri) as store, store.write() as conn:
        for table in (verified_record, bundle, chain):
            table.drop(conn)
        if store.backend == "postgresql":
            bundle_no_seq.drop(conn)
        old.create_all(conn)
        for i, name in enumerate(bundles):
            conn.execute(insert(old_bundles).values(
                bundle_name=name, chain_id=CHAIN, bundle_id=f"id-{name}", outcome="passed", summary="{}",
                lines=1, verified=1, duplicates=0, quarantined=0,
                committed_at=datetime(2025, 1, 1 + i, tzinfo=UTC),
            ))  # fmt: skip
        for rid, (leaf, name) in sorted(records.items()):
            values = {"chain_id": CHAIN, "record_id": rid, "leaf_hash": leaf, "bundle_name": name}
            conn.execute(insert(old_records).values(**values))
        if version == "1":
            landed_invoice.drop(conn)
            conn.execute(delete(state_meta).where(state_meta.c.key == "indexed:invoices"))
        conn.execute(update(state_meta).where(state_meta.c.key == "schema_version").values(value=version))


def test_a_version_2_store_is_upgraded_to_records_by_number(state_uri: str) -> None:
    records = {"r1": (b"L1", "b2"), "r2": (b"L2", "b1"), "r3": (b"L3", "b2")}
    as_version("2", state_uri, records, ["b2", "b1"])
    with StateStore(state_uri) as store:
        assert store.meta("schema_version") == SCHEMA_VERSION == "3"
        known = store.known_records(CHAIN, ["r1", "r2", "r3", "r4"])
        assert known == {"r1": b"L1", "r2": b"L2", "r3": b"L3"}
        numbers = {name: store.bundle_row(name)["bundle_no"] for name in ("b1", "b2")}  # type: ignore[index]
        assert numbers == {"b2": 1, "b1": 2}  # in the order they were committed
        with store.read() as conn:
            refs = dict(conn.execute(select(verified_record.c.record_id, verified_record.c.bundle_no)).all())
        assert refs == {"r1": 1, "r2": 2, "r3": 1}
        res = result("b3", {"r4": b"L4"})
        assert store.commit_bundle(CHAIN, res, row(res), [], reads_of(store, res))
        assert store.bundle_row("b3")["bundle_no"] == 3  # type: ignore[index]
        again = result("b4", {"r1": b"other"})  # the upgraded key still decides conflicts
        assert store.known_records(CHAIN, ["r1"]) == {"r1": b"L1"}
        assert not store.commit_bundle(CHAIN, again, row(again), [], Reads({}, {"r1": None}))


def test_a_version_1_store_is_upgraded_and_indexes_the_lakes_invoices_once(
    state_uri: str, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    month = lake / "verified/supply_chain/invoice/sealed_month=2025-01"
    month.mkdir(parents=True)
    rows = {
        "invoice_no": ["INV-1", "INV-2", "INV-1"],
        "chain_id": [CHAIN] * 3,
        "record_id": ["r1", "r2", "r1"],
    }
    pq.write_table(pa.table(rows), month / "part-a.parquet")  # an old lake may hold a row twice
    pending = {"invoice_no": ["INV-9"], "chain_id": [CHAIN], "record_id": ["r9"]}
    pq.write_table(pa.table(pending), month / "part-b.parquet")  # written, never committed
    as_version("1", state_uri, {"r1": (b"L1", "b1")}, ["b1"])
    with StateStore(state_uri) as store:
        store.plan_files("b", ["verified/supply_chain/invoice/sealed_month=2025-01/part-b.parquet"])
        assert store.meta("schema_version") == SCHEMA_VERSION
        done = index_landed_invoices(store, str(lake))
        assert done is not None and (done["files"], done["rows"]) == (1, 2)
        assert store.landed_invoices(["INV-1", "INV-2", "INV-9"]) == {"INV-1", "INV-2"}
        assert index_landed_invoices(store, str(lake)) is None  # once
        (month / "part-b.parquet").unlink()
    with StateStore(state_uri) as store:  # a new store beside an empty lake is marked too
        with store.write() as conn:
            conn.execute(delete(state_meta).where(state_meta.c.key == "indexed:invoices"))
        done = index_landed_invoices(store, str(tmp_path / "empty"))
        assert done is not None and (done["files"], done["rows"]) == (0, 0)


def test_a_newer_schema_is_refused(state_uri: str) -> None:
    with StateStore(state_uri) as store, store.write() as conn:
        conn.execute(update(state_meta).where(state_meta.c.key == "schema_version").values(value="99"))
    with pytest.raises(StateStoreError, match="schema version 99"):
        StateStore(state_uri)


def test_the_old_per_chain_state_is_imported_once(state_uri: str, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with SqliteStore(lake / "state" / f"{CHAIN}.sqlite") as old:
        old.commit(CHAIN, result("landing/supply_chain/2025-01-01", {"r1": b"L1", "r2": b"L2"}, {3: b"H3"}))
        old.commit(CHAIN, result("landing/supply_chain/2025-01-02", {"r3": b"L3"}, {4: b"H4"}))
        old.checkpoint()
    with StateStore(state_uri) as store:
        done = migrate_old_state(store, str(lake), CHAIN)
        assert done is not None and (done["headers"], done["records"], done["bundles"]) == (2, 3, 2)
        assert store.known_records(CHAIN, ["r1", "r2", "r3"]) == {"r1": b"L1", "r2": b"L2", "r3": b"L3"}
        assert store.trusted_headers(CHAIN, [3, 4]) == {3: b"H3", 4: b"H4"}
        assert store.committed() == {"landing/supply_chain/2025-01-01", "landing/supply_chain/2025-01-02"}
        assert store.bundle_row("landing/supply_chain/2025-01-01")["outcome"] == "migrated"  # type: ignore[index]
        assert migrate_old_state(store, str(lake), CHAIN) is None  # once
        assert (lake / "state" / f"{CHAIN}.sqlite").exists()  # left in place
    with StateStore(state_uri) as store:  # a lake with no old state is marked too
        assert (
            migrate_old_state(store, str(tmp_path / "empty"), "other")
            == {
                **(store_meta := {"from": None, "headers": 0, "records": 0, "bundles": 0}),
                "at": migrate_meta_at(store, "other"),
            }
            and store_meta
        )


def migrate_meta_at(store: StateStore, chain: str) -> str:
    import json

    meta = store.meta(f"migrated:{chain}")
    assert meta is not None
    return str(json.loads(meta)["at"])


def test_where_the_store_lives(tmp_path: Path) -> None:
    assert (
        state_uri(str(tmp_path / "lake"))
        == f"sqlite:///{tmp_path / 'lake' / 'state' / 'ledger-state.sqlite'}"
    )
    assert (
        state_uri("s3://bank-lake/prod", "postgresql+psycopg://u@db/state")
        == "postgresql+psycopg://u@db/state"
    )
    with pytest.raises(
        ConfigError, match=r"^the lake s3://bank-lake/prod is not a local path: set SMECREDIT_STATE_URI"
    ):
        state_uri("s3://bank-lake/prod")
    with pytest.raises(ConfigError, match="not a SQLAlchemy URL"):
        state_uri(str(tmp_path), "ledger.sqlite")
    with pytest.raises(ConfigError, match="sqlite:/// or postgresql"):
        state_uri(str(tmp_path), "mysql://u@db/state")
    with pytest.raises(StateStoreError, match="a file, not memory"):
        StateStore("sqlite://")
