"""``smecredit verify``: verify export bundles into a state folder, without a scheduler."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from attestations.policy import TrustPolicy
from attestations.state import SqliteStore
from attestations.verifier import (
    BundleFiles,
    BundleResult,
    QuarantinedLine,
    VerifiedRecord,
    Verifier,
    paused_gc,
)
from pipelines.collector import held_from_collections
from pipelines.config import Settings
from pipelines.lake import bundle_key
from pipelines.landing import UNREADABLE, Unreadable, bundle_reader

STATE_DB = "ledger-state.sqlite"


def slices(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``size`` (the last one shorter)."""
    return (items[i : i + size] for i in range(0, len(items), size))


def _output_name(result: BundleResult) -> str:
    return f"{bundle_key(result.bundle_id, result.name)}.jsonl"


_CHUNK_ROWS = 4096  # rows serialised and written at a time


def _write_jsonl(path: Path, chunks: Iterable[Sequence[dict[str, Any]]], sorted_rows: bool = False) -> None:
    """Write the rows of ``chunks`` as JSON lines with sorted members, atomically;
    ``sorted_rows`` says the rows' members are already in sorted order.

    The rows are serialised and written a chunk at a time (``_CHUNK_ROWS``): the memory of
    one chunk is reused by the next, where a whole bundle's rows, their bytes and the joined
    file would each take fresh pages (for 200,000 records, about half a gigabyte of page
    faults). Rows are made a slice at a time rather than pulled one by one through a
    generator: a quarter less time for the verified file of a large bundle.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    options = orjson.OPT_APPEND_NEWLINE | (0 if sorted_rows else orjson.OPT_SORT_KEYS)
    dumps = orjson.dumps
    with open(tmp, "wb") as out:
        for chunk in chunks:
            out.write(b"".join([dumps(row, option=options) for row in chunk]))
    tmp.replace(path)


def _row(result: BundleResult, r: VerifiedRecord) -> dict[str, Any]:
    # Members in sorted order, so that the rows need no sorting when written.
    rec = r.record
    return {
        "bundle_id": result.bundle_id, "event_time": rec["event_time"], "firm_id": rec["firm_id"],
        "height": r.height, "index": r.index, "kind": rec["kind"], "leaf": r.leaf,
        "leaf_hash": r.leaf_hash.hex(), "line_no": r.line_no, "record_id": r.record_id,
        "sealed_at": r.sealed_at, "source": rec["source"],
    }  # fmt: skip


def _quarantine_row(result: BundleResult, q: QuarantinedLine) -> dict[str, Any]:
    return {"bundle_id": result.bundle_id, "line_no": q.line_no, "reason": q.reason, "detail": q.detail,
            "raw": q.raw.decode("utf-8", "backslashreplace")}  # fmt: skip


def write_outputs(state: Path, result: BundleResult) -> None:
    """Write the bundle's verified and quarantine files; call before committing the result.

    The verified file accumulates across runs (a record is verified once, by the first run
    that proves it); the quarantine file holds the latest run's outcome of each line.
    """
    name = _output_name(result)
    verified = state / "verified" / name
    if result.verified or not verified.exists():
        new = {r.record_id for r in result.verified}
        kept = []
        if verified.exists():
            kept = [
                row
                for row in map(orjson.loads, verified.read_bytes().splitlines())
                if row["record_id"] not in new
            ]
        # Kept rows were written sorted and parse back in that order.
        made = ([_row(result, r) for r in part] for part in slices(result.verified, _CHUNK_ROWS))
        _write_jsonl(verified, chain(slices(kept, _CHUNK_ROWS), made), sorted_rows=True)
    lines = slices(result.quarantined, _CHUNK_ROWS)
    _write_jsonl(state / "quarantine" / name, ([_quarantine_row(result, q) for q in part] for part in lines))


def read_bundle_dir(bundle: Path, max_bytes: int) -> BundleFiles:
    """The bundle folder an operator named, read with the collector's checks
    (``pipelines.landing``): its files must be regular files inside it, never links,
    devices or FIFOs, and add up to at most ``max_bytes``; the JSONL files are streamed.

    Raises:
        Unreadable: the folder or one of its files is refused; nothing was read.
    """
    folder = os.path.abspath(bundle)
    reader = bundle_reader(os.path.dirname(folder), folder, max_bytes)
    return BundleFiles.from_reader(folder, reader, reader.open)


def refused(bundle: Path, cause: str) -> BundleResult:
    """The result of a bundle the checks refuse: no line read, the cause as its failure."""
    name = os.path.abspath(bundle)
    return BundleResult(name, name, None, None, 0, bundle_failure=(UNREADABLE, cause))


def _refusal_row(result: BundleResult) -> dict[str, Any]:
    assert result.bundle_failure is not None
    return {"bundle_id": result.bundle_id, "line_no": 0, "reason": UNREADABLE,
            "detail": result.bundle_failure[1], "raw": ""}  # fmt: skip


def is_refused(result: BundleResult) -> bool:
    """Whether the checks refused the bundle (``bundle_unreadable``) before it was judged."""
    return result.bundle_failure is not None and result.bundle_failure[0] == UNREADABLE


def verify_bundles(
    bundles: Sequence[Path], policy: TrustPolicy, state: Path, max_bytes: int | None = None
) -> list[BundleResult]:
    """Verify ``bundles`` in order against ``policy``, keeping memory and outputs in ``state``.

    Outputs: ``state/ledger-state.sqlite`` (checkpoints, verified record ids, quarantine, run
    log) and, per bundle, ``state/verified/*.jsonl`` and ``state/quarantine/*.jsonl``. Each
    bundle's files are written before its result is committed: a crash in between leaves
    files that the rerun rewrites identically, never a record remembered but not written.

    A bundle the collector's checks refuse (a link, a device, a FIFO, more than
    ``max_bytes``, by default ``SMECREDIT_MAX_BUNDLE_BYTES``) gets a ``bundle_unreadable``
    result (``is_refused``) and one quarantine entry at line 0, is not remembered, and does
    not stop the others.
    """
    if max_bytes is None:
        max_bytes = Settings.from_env().max_bundle_bytes
    results = []
    with SqliteStore(state / STATE_DB) as store, held_from_collections() as hold:
        verifier = Verifier(policy, store)
        for bundle in bundles:
            with paused_gc():
                results.append(_verify_one(verifier, store, state, bundle, max_bytes))
                hold()  # before the collector runs again: the judged records are never walked
    return results


def _verify_one(
    verifier: Verifier, store: SqliteStore, state: Path, bundle: Path, max_bytes: int
) -> BundleResult:
    """Judge one bundle, write its outputs and commit it (``verify_bundles``)."""
    try:
        result = verifier.evaluate(read_bundle_dir(bundle, max_bytes))
    except Unreadable as exc:
        result = refused(bundle, str(exc))
        _write_jsonl(state / "quarantine" / _output_name(result), [[_refusal_row(result)]])
        return result
    # A refusal of an earlier run is replaced by this outcome.
    (state / "quarantine" / _output_name(refused(bundle, ""))).unlink(missing_ok=True)
    write_outputs(state, result)
    store.commit(verifier.policy.chain_id, result)
    return result


def human_line(result: BundleResult) -> str:
    """One readable line per bundle."""
    if is_refused(result):
        assert result.bundle_failure is not None
        return f"{result.bundle_id}: refused ({UNREADABLE}): {result.bundle_failure[1]}"
    q = result.quarantine_counts()
    reasons = ", ".join(f"{k}={v}" for k, v in q.items()) or "none"
    return (
        f"{result.bundle_id}: {result.lines} lines, {len(result.verified)} verified, "
        f"{result.duplicates} duplicates, {sum(q.values())} quarantined ({reasons})"
    )
