"""``smecredit verify``: verify export bundles into a state folder, without a scheduler."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from attestations.policy import TrustPolicy
from attestations.state import SqliteStore
from attestations.verifier import BundleFiles, BundleResult, VerifiedRecord, Verifier
from pipelines.lake import bundle_key

STATE_DB = "ledger-state.sqlite"


def _output_name(result: BundleResult) -> str:
    return f"{bundle_key(result.bundle_id, result.name)}.jsonl"


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    options = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    tmp.write_bytes(b"".join(orjson.dumps(row, option=options) for row in rows))
    tmp.replace(path)


def _row(result: BundleResult, r: VerifiedRecord) -> dict[str, Any]:
    rec = r.record
    return {
        "record_id": r.record_id, "source": rec["source"], "kind": rec["kind"], "firm_id": rec["firm_id"],
        "event_time": rec["event_time"], "height": r.height, "index": r.index, "sealed_at": r.sealed_at,
        "leaf_hash": r.leaf_hash.hex(), "bundle_id": result.bundle_id, "line_no": r.line_no, "leaf": r.leaf,
    }  # fmt: skip


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
        _write_jsonl(verified, kept + [_row(result, r) for r in result.verified])
    quarantine = [
        {"bundle_id": result.bundle_id, "line_no": q.line_no, "reason": q.reason, "detail": q.detail,
         "raw": q.raw.decode("utf-8", "backslashreplace")}
        for q in result.quarantined
    ]  # fmt: skip
    _write_jsonl(state / "quarantine" / name, quarantine)


def verify_bundles(bundles: Sequence[Path], policy: TrustPolicy, state: Path) -> list[BundleResult]:
    """Verify ``bundles`` in order against ``policy``, keeping memory and outputs in ``state``.

    Outputs: ``state/ledger-state.sqlite`` (checkpoints, verified record ids, quarantine, run
    log) and, per bundle, ``state/verified/*.jsonl`` and ``state/quarantine/*.jsonl``. Each
    bundle's files are written before its result is committed: a crash in between leaves
    files that the rerun rewrites identically, never a record remembered but not written.
    """
    results = []
    with SqliteStore(state / STATE_DB) as store:
        verifier = Verifier(policy, store)
        for bundle in bundles:
            result = verifier.evaluate(BundleFiles.read_dir(bundle.resolve()))
            write_outputs(state, result)
            store.commit(policy.chain_id, result)
            results.append(result)
    return results


def human_line(result: BundleResult) -> str:
    """One readable line per bundle."""
    q = result.quarantine_counts()
    reasons = ", ".join(f"{k}={v}" for k, v in q.items()) or "none"
    return (
        f"{result.bundle_id}: {result.lines} lines, {len(result.verified)} verified, "
        f"{result.duplicates} duplicates, {sum(q.values())} quarantined ({reasons})"
    )
