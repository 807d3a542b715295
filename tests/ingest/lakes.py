"""What the crash and concurrency tests compare: a lake's facts, independent of timings, and
``smecredit ingest`` run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from sqlalchemy import select

from pipelines.ledger_state import StateStore, state_uri
from pipelines.ledger_state.schema import landed_invoice
from tests.conftest import ROOT

LOG_COLUMNS = ["bundle_uri", "lines", "verified", "duplicates", "quarantined", "validation"]


def cli_env(landing: Path, lake: Path, trust: Path, state_uri: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMECREDIT_")}
    env.update(
        SMECREDIT_LANDING_URI=str(landing), SMECREDIT_LAKE_URI=str(lake), SMECREDIT_TRUST_POLICY=str(trust)
    )
    if state_uri:
        env["SMECREDIT_STATE_URI"] = state_uri
    env.update(extra)
    return env


def ingest_process(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``smecredit ingest`` as a process of its own."""
    command = [sys.executable, "-m", "pipelines.cli", "ingest", *args]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_ingest(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = ingest_process(env, *args)
    _, err = proc.communicate(timeout=900)
    return proc.returncode, err


def _rows(lake: Path, name: str, columns: list[str] | None = None) -> list[dict[str, Any]]:
    path = lake / name
    if not path.exists():
        return []
    data = ds.dataset(str(path), format="parquet", partitioning="hive")
    return list(data.to_table(columns=columns).to_pylist())


def verified_pairs(lake: Path) -> list[tuple[str, str, str]]:
    """``(record_id, leaf_hash, bundle_id)`` of every row in ``verified/``."""
    pairs = []
    for kind in sorted(lake.glob("verified/*/*")):
        rel = kind.relative_to(lake).as_posix()
        pairs += [
            (r["record_id"], r["leaf_hash"], r["bundle_id"])
            for r in _rows(lake, rel, ["record_id", "leaf_hash", "bundle_id"])
        ]
    return pairs


def facts(lake: Path) -> dict[str, Any]:
    """What must be equal between two lakes ingested from one landing zone: the verified
    (record_id, leaf_hash) set, the log row of every bundle (without timings), the
    quarantine (bundle, line, reason) and the totals."""
    pairs = verified_pairs(lake)
    log = sorted((tuple(r[c] for c in LOG_COLUMNS) for r in _rows(lake, "ingest_log")), key=str)
    quarantine = sorted(
        (r["bundle_uri"], r["line_no"], r["reason"])
        for r in _rows(lake, "quarantine", ["bundle_uri", "line_no", "reason"])
    )
    return {
        "records": sorted({(rid, leaf) for rid, leaf, _ in pairs}),
        "log": log,
        "quarantine": quarantine,
        "totals": {c: sum(int(r[i + 1]) for r in log) for i, c in enumerate(LOG_COLUMNS[1:5])},
    }


def check_consistent(lake: Path, landing: Path, store_uri: str = "") -> None:
    """The lake adds up: no record twice in ``verified/``; one log row per bundle of the
    landing zone; each row's lines = verified + duplicates + quarantined; the verified and
    quarantine files hold what the log rows say; every landing line is accounted for; and the
    state store (at ``store_uri``, else the lake's own) indexes exactly the landed invoices."""
    pairs = verified_pairs(lake)
    ids = Counter(rid for rid, _, _ in pairs)
    assert not [rid for rid, n in ids.items() if n > 1], "a record_id twice in verified/"
    log = _rows(lake, "ingest_log")
    uris = Counter(r["bundle_uri"] for r in log)
    bundles = {str(p) for p in landing.glob("*/*")}
    assert set(uris) == bundles and max(uris.values()) == 1
    for r in log:
        assert r["lines"] == r["verified"] + r["duplicates"] + r["quarantined"], r
    assert sum(r["verified"] for r in log) == len(pairs)
    assert sum(r["quarantined"] for r in log) == len(_rows(lake, "quarantine", ["line_no"]))
    exported = sum(len(p.read_bytes().splitlines()) for p in landing.glob("*/*/records.jsonl"))
    assert sum(r["lines"] for r in log) == exported
    invoices = _rows(lake, "verified/supply_chain/invoice", ["invoice_no", "chain_id", "record_id"])
    with StateStore(store_uri or state_uri(str(lake))) as store, store.read() as conn:
        indexed = sorted(tuple(r) for r in conn.execute(select(landed_invoice)))
    assert indexed == sorted((r["invoice_no"], r["chain_id"], r["record_id"]) for r in invoices)
