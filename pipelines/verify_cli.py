"""``smecredit verify``: verify export bundles into a state folder, without a scheduler."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from attestations.policy import TrustPolicy
from attestations.state import SqliteStore
from attestations.verifier import BundleFiles, BundleResult, Verifier

STATE_DB = "ledger-state.sqlite"


def _output_name(result: BundleResult) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", result.bundle_id)[:80] or "bundle"
    return f"{safe}-{hashlib.sha256(result.name.encode()).hexdigest()[:10]}.jsonl"


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    options = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    tmp.write_bytes(b"".join(orjson.dumps(row, option=options) for row in rows))
    tmp.replace(path)


def _export(store: SqliteStore, state: Path, result: BundleResult) -> None:
    """Rewrite the bundle's verified and quarantine files from the store (idempotent)."""
    name = _output_name(result)
    _write_jsonl(state / "verified" / name, store.verified_rows(result.name))
    quarantine = [
        {**row, "raw": row["raw"].decode("utf-8", "backslashreplace")}
        for row in store.quarantine_rows(result.name)
    ]
    _write_jsonl(state / "quarantine" / name, quarantine)


def verify_bundles(bundles: Sequence[Path], policy: TrustPolicy, state: Path) -> list[BundleResult]:
    """Verify ``bundles`` in order against ``policy``, keeping memory and outputs in ``state``.

    Outputs: ``state/ledger-state.sqlite`` (checkpoints, verified records, quarantine, run
    log) and, per bundle, ``state/verified/*.jsonl`` and ``state/quarantine/*.jsonl``.
    """
    results = []
    with SqliteStore(state / STATE_DB) as store:
        verifier = Verifier(policy, store)
        for bundle in bundles:
            result = verifier.verify(BundleFiles.read_dir(bundle.resolve()))
            _export(store, state, result)
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
