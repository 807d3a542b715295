"""One ingest run: the pending bundles claimed, verified in height order a window at a time,
validated, landed and committed per window (docs/state-store.md).

A bundle's commit protocol: claim it (no other worker holds it, it has no committed row;
files of earlier attempts that never committed are removed), judge it, record the lake files
it is about to write as pending, write them under names derived from the bundle, then one
transaction for its window records, bundle by bundle under a savepoint, the bundle, its
records, its headers and its files, if what it read from the state still holds; if not, its
files are removed and it is judged again under the chain's lock. A kill anywhere leaves
either a committed bundle or pending files that the next claim removes: the lake and the
state never disagree for long, and nothing lands twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from attestations.policy import TrustPolicy
from attestations.verifier import Verifier
from pipelines.collector import fewer_collections
from pipelines.errors import IngestError
from pipelines.ingest.collect import in_height_order, load_policy, pending
from pipelines.ingest.config import IngestConfig
from pipelines.ingest.gate import held_back, validate_batch
from pipelines.ingest.killpoints import reached
from pipelines.ingest.land import bundle_paths, land_bundle, log_paths
from pipelines.ingest.refusals import (
    clear_unreadable,
    folder_source,
    record_land_failed,
    record_unreadable,
    remove_landed,
    unreadable_key,
)
from pipelines.ingest.state import StateView, claim, ingest_state, remove_files, tolerated_headers
from pipelines.ingest.tables import without
from pipelines.ingest.verify import VerifiedBundle, verify_bundle
from pipelines.lake import write_atomic
from pipelines.landing import Unreadable
from pipelines.ledger_state import Commit, Reads, StateStore
from pipelines.schemas import SOURCES

log = logging.getLogger(__name__)

# Lines judged and held in memory before they are validated and landed: memory stays bounded
# whatever SMECREDIT_INGEST_BATCH (which only sets how many bundles a task is given).
WINDOW_LINES = 100_000


@dataclass
class IngestReport:
    """What one ingest run did: a log row per bundle, and bundles held back by the gate."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)


@dataclass
class _Run:
    cfg: IngestConfig
    store: StateStore
    policy: TrustPolicy
    view: StateView
    report: IngestReport

    @property
    def chain(self) -> str:
        return self.policy.chain_id


def _refused(run: _Run, uri: str, exc: Unreadable) -> None:
    """Log a bundle the collector refused (its files stay pending: it is tried every run)."""
    log.warning("bundle %s refused: %s", uri, exc)
    run.store.plan_files(uri, log_paths(folder_source(uri), unreadable_key(uri)))
    run.report.rows.append(record_unreadable(run.cfg.lake_uri, uri, str(exc)))
    run.store.release(uri)


def _next_window(run: _Run, queue: Iterator[str], batch_size: int) -> list[VerifiedBundle]:
    """Claim and judge the next bundles of ``queue``, up to ``batch_size`` bundles or
    ``WINDOW_LINES`` lines; bundles another worker holds or committed are skipped."""
    cfg, batch, lines = run.cfg, [], 0
    verifier = Verifier(run.policy, run.view)
    for uri in queue:
        if not claim(run.store, cfg.lake_uri, uri):
            continue
        reached("claimed")
        try:
            item = verify_bundle(verifier, uri, cfg.landing_uri, cfg.max_bundle_bytes)
        except Unreadable as exc:
            _refused(run, uri, exc)
            continue
        clear_unreadable(cfg.lake_uri, uri, item.key)
        batch.append(item)
        lines += item.result.lines
        if len(batch) >= batch_size or lines >= WINDOW_LINES:
            break
    return batch


def _validate(store: StateStore, batch: list[VerifiedBundle]) -> tuple[dict[str, str], dict[str, Any], float]:
    """The batch's quality suites; when they crash, each bundle alone, so that only the
    bundle that makes them crash fails (its ``land_error``)."""
    ready = [item for item in batch if item.land_error is None]
    try:
        return validate_batch(store, ready)
    except Exception:
        log.exception("validating a batch of %d bundles crashed; validating them one by one", len(ready))
    failed: dict[str, str] = {}
    reports: dict[str, Any] = {}
    seconds = 0.0
    for item in ready:
        try:
            mine, found, took = validate_batch(store, [item])
        except Exception as exc:
            item.land_error = exc
            continue
        failed.update(mine)
        reports[item.key] = found
        seconds += took
    return failed, reports, seconds


def _write(
    run: _Run, item: VerifiedBundle, failed: dict[str, str], seconds: float, planned: list[str] | None
) -> tuple[dict[str, Any], list[str]]:
    """Write the bundle's files, recorded as pending first (unless its window recorded them:
    ``planned``): its log row and the files."""
    paths = planned
    if paths is None:
        paths = bundle_paths(item, failed)
        run.store.plan_files(item.uri, paths)
    reached("planned")
    row = land_bundle(run.cfg, item, failed, seconds)
    reached("files_written")
    return row, paths


def _commit(
    run: _Run,
    view: StateView,
    item: VerifiedBundle,
    failed: dict[str, str],
    row: dict[str, Any],
    paths: list[str],
) -> Commit:
    """What the state records of a landed bundle, with what it read while it was judged."""
    reads = view.reads.get(item.result.name, Reads())
    reads.tolerated = tolerated_headers(item.files, run.policy.hash_alg)
    return Commit(item.result, row, paths, reads, landed_invoices(item, failed))


def _undo(run: _Run, item: VerifiedBundle, paths: list[str]) -> None:
    """Remove the files of a bundle whose commit was refused (the state changed since it was
    judged), and its pending record."""
    remove_files(run.cfg.lake_uri, paths)
    run.store.clear_pending(item.uri)


def _attempt(
    run: _Run,
    view: StateView,
    item: VerifiedBundle,
    failed: dict[str, str],
    seconds: float,
    planned: list[str] | None,
) -> dict[str, Any] | None:
    """Write the bundle's files and commit it: its log row, or None when the state changed
    since it was judged (its files are removed again)."""
    row, paths = _write(run, item, failed, seconds, planned)
    if run.store.commit_bundles(run.chain, [_commit(run, view, item, failed, row, paths)]) == [True]:
        reached("committed")
        return row
    _undo(run, item, paths)
    return None


def landed_invoices(item: VerifiedBundle, failed: dict[str, str]) -> list[tuple[str, str]]:
    """``(invoice_no, record_id)`` of the bundle's invoice rows that land (not quarantined)."""
    table = item.tables.get("invoice")
    if table is None:
        return []
    landed = without(table, set(failed))  # as land_bundle writes it
    return list(zip(landed["invoice_no"].to_pylist(), landed["record_id"].to_pylist(), strict=True))


def _land_failed(run: _Run, item: VerifiedBundle) -> dict[str, Any]:
    """Quarantine the bundle's verified lines as ``land_failed: <error>`` and remove what it
    landed (``pipelines.ingest.refusals``); it stays uncommitted, so the next run tries it."""
    log.error("bundle %s could not be landed: %s", item.uri, item.land_error)
    remove_files(run.cfg.lake_uri, run.store.pending_files(item.uri).get(item.uri, []))
    remove_landed(run.cfg.lake_uri, item.source, item.key)
    run.store.clear_pending(item.uri)
    run.store.plan_files(item.uri, log_paths(item.source, item.key))
    assert item.land_error is not None
    return record_land_failed(
        run.cfg.lake_uri, item.source, item.key, item.uri, item.result, item.files.records, item.land_error
    )


def _land(
    run: _Run,
    view: StateView,
    item: VerifiedBundle,
    failed: dict[str, str],
    seconds: float,
    planned: list[str] | None = None,
) -> dict[str, Any] | None:
    """``_attempt``, a failure to write kept as the bundle's ``land_error`` (the state
    store's own errors stop the run: the bundle is retried with it)."""
    if item.land_error is not None:
        return None
    try:
        return _attempt(run, view, item, failed, seconds, planned)
    except SQLAlchemyError:
        raise
    except Exception as exc:  # the other bundles land
        item.land_error = exc
        return None


def _again(run: _Run, uri: str) -> dict[str, Any]:
    """Judge, land and commit the bundle at ``uri`` again, holding the chain's lock so that
    no other worker changes what it reads; its log row."""
    with run.store.chain_lock(run.chain):
        view = StateView(run.store)
        try:
            item = verify_bundle(
                Verifier(run.policy, view), uri, run.cfg.landing_uri, run.cfg.max_bundle_bytes
            )
        except Unreadable as exc:
            log.warning("bundle %s refused: %s", uri, exc)
            run.store.plan_files(uri, log_paths(folder_source(uri), unreadable_key(uri)))
            return record_unreadable(run.cfg.lake_uri, uri, str(exc))
        failed, _, seconds = _validate(run.store, [item])
        row = _land(run, view, item, failed, seconds)
        if row is None and item.land_error is None:
            raise IngestError(f"bundle {uri}: the state changed while its chain was locked")
        _hold(run, item, failed)
        return row if row is not None else _land_failed(run, item)


def _hold(run: _Run, item: VerifiedBundle, failed: dict[str, str]) -> None:
    if item.land_error is None and (held := held_back(run.cfg, item, failed)):
        run.report.held_back.append(held)


def _plan_window(run: _Run, batch: list[VerifiedBundle], failed: dict[str, str]) -> dict[str, list[str]]:
    """Record every bundle's files as pending at once, before any is written: one write
    transaction a window instead of one a bundle (each waits while another worker commits);
    the files, by bundle."""
    planned: dict[str, list[str]] = {}
    for item in batch:
        if item.land_error is not None:
            continue
        try:
            planned[item.uri] = bundle_paths(item, failed)
        except Exception as exc:  # as in _land: this bundle fails, the others land
            item.land_error = exc
    run.store.plan_bundles(planned)
    return planned


def _write_window(
    run: _Run, batch: list[VerifiedBundle], failed: dict[str, str], seconds: float
) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """Write every bundle's files, recorded as pending at once first: the log row and files of
    each bundle written, by location; a bundle that could not be written keeps its error
    (``land_error``) and the others are written (the state store's own errors stop the run)."""
    planned = _plan_window(run, batch, failed)
    written: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for item in batch:
        if item.land_error is not None:
            continue
        try:
            written[item.uri] = _write(run, item, failed, seconds, planned.get(item.uri))
        except SQLAlchemyError:
            raise
        except Exception as exc:  # the other bundles land
            item.land_error = exc
    return written


def _land_window(run: _Run, batch: list[VerifiedBundle], judged: float) -> None:
    """Validate the window, write its bundles' files, then commit them all in one transaction
    (``StateStore.commit_bundles``), in order; a bundle the commit leaves out (the state
    changed since it was judged) is judged again under the chain's lock. Logs what it took
    (``judged``: the seconds its bundles took to claim and judge)."""
    started, bundles = time.perf_counter(), len(batch)
    lines = sum(item.result.lines for item in batch)
    failed, reports, validate_seconds = _validate(run.store, batch)
    name = f"batch-{batch[0].key}.json"
    try:
        written = _write_window(run, batch, failed, validate_seconds / len(batch))
        landed = [item for item in batch if item.uri in written]
        commits = [_commit(run, run.view, item, failed, *written[item.uri]) for item in landed]
        done = dict(
            zip([item.uri for item in landed], run.store.commit_bundles(run.chain, commits), strict=True)
        )
        while batch:
            item = batch.pop(0)  # dropped once settled: memory is freed as the window goes
            run.view.settle(item.result)
            row = _settled(run, item, failed, written.get(item.uri), done.get(item.uri, False))
            run.report.rows.append(row)
            run.store.release(item.uri)
    finally:
        for item in batch:
            run.store.release(item.uri)
    body = json.dumps(reports, default=str, sort_keys=True).encode()
    write_atomic(f"{run.cfg.lake_uri.rstrip('/')}/validation/{name}", body)
    log.info(
        "window of %d bundles, %d lines: judged in %.2f s, validated in %.2f s, "
        "landed and committed in %.2f s",
        bundles,
        lines,
        judged,
        validate_seconds,
        time.perf_counter() - started - validate_seconds,
    )


def _settled(
    run: _Run,
    item: VerifiedBundle,
    failed: dict[str, str],
    written: tuple[dict[str, Any], list[str]] | None,
    committed: bool,
) -> dict[str, Any]:
    """The log row of a bundle of the window once its commit is decided: committed, judged
    again (the state changed since it was judged), or quarantined as ``land_failed``."""
    if committed and written is not None:
        reached("committed")
        _hold(run, item, failed)
        return written[0]
    if written is not None:
        _undo(run, item, written[1])
        log.info("bundle %s: the state changed since it was judged; judging it again", item.uri)
        return _again(run, item.uri)
    return _land_failed(run, item)


def ingest(
    cfg: IngestConfig,
    sources: Sequence[str] = SOURCES,
    limit: int | None = None,
    batch_size: int = 200,
    uris: Sequence[str] | None = None,
) -> IngestReport:
    """Ingest the pending bundles of ``sources`` (at most ``limit``), in height order; or,
    given ``uris``, those of them not ingested yet (a retried task redoes nothing).

    Bundles are judged one after another (each sees what the previous ones proved), at most
    ``batch_size`` bundles or ``WINDOW_LINES`` lines at a time, validated together per kind,
    then landed, and committed in one transaction a window. Rows that fail a quality expectation are
    quarantined, the others land; a quality gate breach fails the run only at its end. Other
    workers may run at once on the same lake and state: each bundle is taken by one of them.
    The garbage collector runs at a slower pace meanwhile (``pipelines.collector``).

    Raises:
        PolicyError: the trust policy is unusable (nothing is read).
        ConfigError: the state store is not configured for a remote lake.
        IngestError: a bundle's share of rows failing quality passed the threshold; its
            message names the bundle, the expectation and the count.
    """
    policy = load_policy(cfg.trust_policy)
    report = IngestReport()
    with ingest_state(cfg, policy.chain_id) as store, fewer_collections():
        run = _Run(cfg, store, policy, StateView(store), report)
        if uris is None:
            todo = pending(cfg, store, sources)[:limit]
        else:
            done = store.committed(uris)
            todo = in_height_order([u for u in uris if u not in done])
        queue = iter(todo)
        log.info("%d bundles to ingest of %s", len(todo), ", ".join(sources))
        while True:
            started = time.perf_counter()
            batch = _next_window(run, queue, batch_size)
            if not batch:
                break
            _land_window(run, batch, time.perf_counter() - started)
    if report.held_back:
        raise IngestError("quality gate: " + "; ".join(report.held_back))
    return report
