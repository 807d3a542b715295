"""Build, check, sign and write the evidence packs of defaulted loans.

``write_packs`` reads the bank's books and the lake once for all the loans of a run, copies
every record's export line and header line from the landing zone byte for byte
(``pipelines.evidence.lines``), assembles each pack, checks it with the offline checker
(``attestations.evidence.check_pack``: a pack that would not verify is never written), and
writes it to ``<lake>/evidence/<loan_id>/`` through a temporary folder renamed into place,
with ``<lake>/evidence/<loan_id>.zip`` beside it. ``<lake>/evidence/npl_buyer.csv`` lists
every pack for a buyer of the loans.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata
from typing import Any

import orjson
import pandas as pd
from cryptography.hazmat.primitives.asymmetric import ed25519

from attestations.evidence import (
    PACK_FORMAT,
    check_pack,
    file_entry,
    key_fingerprint,
    manifest_bytes,
    sign_manifest,
    zip_pack,
)
from attestations.policy import TrustPolicy
from pipelines.config import Settings
from pipelines.evidence.facts import Books, loan_facts
from pipelines.evidence.lines import SourceLine, bundle_locations, original_lines
from pipelines.evidence.select import Case, EvidenceError, cases, default_dates, record_rows
from pipelines.evidence.summary import summary_html
from pipelines.evidence.verify_doc import verify_markdown
from pipelines.lake import filesystem, write_atomic

NPL_COLUMNS = [
    "loan_id",
    "borrower_firm_id",
    "balance_fen",
    "balance_cny",
    "default_date",
    "records",
    "pack_sha256",
    "pack",
    "created_at",
]


@dataclass(frozen=True)
class Chain:
    """What the packs of a run share: the trust policy (parsed and as bytes) and the lines."""

    policy: TrustPolicy
    trust_bytes: bytes
    lines: dict[str, SourceLine]
    headers: dict[int, bytes]
    landing_uri: str


def software_version() -> str:
    try:
        return metadata.version("smecredit")
    except metadata.PackageNotFoundError:
        return "unknown"


def _relative(uri: str, root: str) -> str:
    root = root.rstrip("/")
    return uri[len(root) + 1 :] if root and uri.startswith(root + "/") else uri


def _records(case: Case, mine: pd.DataFrame, chain: Chain) -> list[tuple[str, SourceLine]]:
    ids = set(mine["record_id"].astype(str))
    return sorted(((r, chain.lines[r]) for r in ids), key=lambda p: (p[1].height, p[1].index))


def _content(
    case: Case, books: Books, mine: pd.DataFrame, chain: Chain, key: ed25519.Ed25519PrivateKey, as_of: date
) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """The pack's content files, and the provenance of each record line."""
    chosen = _records(case, mine, chain)
    records_jsonl = b"".join(line.raw + b"\n" for _, line in chosen)
    heights = sorted({line.height for _, line in chosen})
    headers_jsonl = b"".join(chain.headers[h] + b"\n" for h in heights)
    parsed = []
    for n, (_, line) in enumerate(chosen, start=1):
        entry = orjson.loads(line.raw)
        parsed.append((n, entry, orjson.loads(entry["leaf"].encode("utf-8"))))
    headers = {h: orjson.loads(chain.headers[h])["header"] for h in heights}
    facts = loan_facts(case, books, mine, as_of)
    # The worked record of VERIFY.md: a pledge of the collateral, else an offered invoice.
    rank = {("collateral", "warehouse_receipt"): 0, ("trade", "invoice"): 1}
    best: dict[str, int] = {}
    for rid, role, kind in mine[["record_id", "role", "kind"]].itertuples(index=False):
        best[str(rid)] = min(best.get(str(rid), 2), rank.get((role, kind), 2))
    worked = min(parsed, key=lambda p: (best.get(p[2]["record_id"], 2), p[0]))
    fingerprint = key_fingerprint(key.public_key())
    p = chain.policy
    files = {
        "records.jsonl": records_jsonl,
        "headers.jsonl": headers_jsonl,
        "trust.json": chain.trust_bytes,
        "loan.json": json.dumps(facts, indent=1, ensure_ascii=False).encode("utf-8") + b"\n",
        "summary.html": summary_html(
            facts, parsed, headers, (p.chain_id, p.hash_alg, p.threshold), fingerprint
        ).encode("utf-8"),
        "VERIFY.md": verify_markdown(
            case.loan_id,
            worked,
            headers[worked[1]["height"]],
            p.hash_alg,
            fingerprint,
            (len(parsed), len(heights)),
        ).encode("utf-8"),
    }
    provenance = [
        {
            "line": n,
            "record_id": rid,
            "bundle_id": line.bundle_id,
            "bundle": _relative(line.bundle_uri, chain.landing_uri),
            "bundle_line": line.line_no,
        }
        for n, (rid, line) in enumerate(chosen, start=1)
    ]
    return files, provenance


def build_pack(
    case: Case, books: Books, mine: pd.DataFrame, chain: Chain, key: ed25519.Ed25519PrivateKey, as_of: date
) -> dict[str, bytes]:
    """Every file of ``case``'s pack, signed, and checked as a court's checker would.

    Raises:
        EvidenceError: the loan has no attested record, or the pack would not verify.
    """
    if mine.empty:
        raise EvidenceError(f"loan {case.loan_id}: no attested record stands behind it in the lake")
    files, provenance = _content(case, books, mine, chain, key, as_of)
    manifest = {
        "format": PACK_FORMAT,
        "loan_id": case.loan_id,
        "as_of": as_of.isoformat(),
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "software": {"name": "smecredit", "version": software_version()},
        "chain_id": chain.policy.chain_id,
        "hash_alg": chain.policy.hash_alg,
        "files": [file_entry(name, data) for name, data in files.items()],
        "provenance": provenance,
    }
    raw = manifest_bytes(manifest)
    files = {**files, "manifest.json": raw, "manifest.sig": sign_manifest(raw, key)}
    report = check_pack(files, chain.policy)
    if not report.ok:
        problems = "; ".join(f.line() for f in report.failures()[:3])
        raise EvidenceError(f"loan {case.loan_id}: the pack does not verify, not written: {problems}")
    return files


def evidence_root(lake_uri: str) -> str:
    return f"{lake_uri.rstrip('/')}/evidence"


def _exchange(a: str, b: str) -> bool:
    """Swap two local folders in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``), so a
    reader sees the old pack or the new one, never neither; False where that is unavailable."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return int(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)) == 0


def write_pack(dest: str, files: dict[str, bytes]) -> str:
    """Write a pack to the folder ``dest`` and its zip ``dest.zip``; return the zip's SHA-256.

    The folder is written under a temporary sibling name and swapped into place in one step on
    a local lake (elsewhere the old folder is moved aside first); the zip is then written
    atomically. A run killed between the two leaves the new folder beside the previous zip,
    and the next rewrite makes them agree."""
    import hashlib

    fs, path = filesystem(dest)
    parent, name = path.rsplit("/", 1) if "/" in path else (".", path)
    fs.makedirs(parent, exist_ok=True)
    archive = zip_pack(files, name)
    tmp = f"{parent}/.tmp-{name}-{uuid.uuid4().hex}"
    fs.makedirs(tmp, exist_ok=True)
    for file, data in files.items():
        fs.pipe_file(f"{tmp}/{file}", data)
    local = getattr(fs, "protocol", None) in ("file", ("file", "local"))
    if not fs.exists(path):
        fs.mv(tmp, path, recursive=True)
    elif local and _exchange(tmp, path):
        fs.rm(tmp, recursive=True)  # it now holds the previous pack
    else:
        old = f"{parent}/.old-{name}-{uuid.uuid4().hex}"
        fs.mv(path, old, recursive=True)
        fs.mv(tmp, path, recursive=True)
        fs.rm(old, recursive=True)
    write_atomic(f"{dest.rstrip('/')}.zip", archive)
    return hashlib.sha256(archive).hexdigest()


def read_books(settings: Settings) -> Books:
    """The bank's books and the lake's scores, reviews, alerts and outbox (empty when a
    stage has not run)."""
    from pipelines.monitor import read_alerts
    from pipelines.monitor.outbox import Outbox
    from pipelines.review import read_reviews
    from pipelines.scoring import ScoringError, read_bank, read_scores

    def optional(table: str) -> pd.DataFrame:
        try:
            return read_bank(settings.bank_uri, table)
        except ScoringError:
            return pd.DataFrame(columns=["firm_id", "loan_id", "manager_id"])

    return Books(
        applications=read_bank(settings.bank_uri, "applications"),
        performance=read_bank(settings.bank_uri, "loan_performance"),
        portfolio=optional("portfolio"),
        firms=optional("firms"),
        scores=read_scores(settings.lake_uri),
        reviews=read_reviews(settings.lake_uri),
        alerts=read_alerts(settings.lake_uri),
        outbox=Outbox(settings.lake_uri).read(),
    )


def read_pack_files(folder: str) -> dict[str, bytes]:
    """Every file of the pack folder at a path or URI (for ``attestations.evidence.check_pack``)."""
    fs, root = filesystem(folder)
    return {str(p)[len(root) + 1 :]: bytes(fs.cat_file(p)) for p in sorted(fs.find(root))}


def existing_packs(lake_uri: str) -> set[str]:
    """Loan ids with a pack in the lake."""
    fs, base = filesystem(evidence_root(lake_uri))
    found = fs.glob(f"{base}/*/manifest.json")
    return {str(p).rsplit("/", 2)[-2] for p in found if not str(p).rsplit("/", 2)[-2].startswith(".")}


def _chain(settings: Settings, rows: pd.DataFrame) -> Chain:
    fs, path = filesystem(settings.trust_policy)
    try:
        trust = bytes(fs.cat_file(path))
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"cannot read the trust policy {settings.trust_policy}: {exc}") from None
    policy = TrustPolicy.from_json(trust)
    lines, headers = original_lines(rows, bundle_locations(settings.lake_uri), policy, settings.landing_uri)
    return Chain(policy, trust, lines, headers, settings.landing_uri)


def build_packs(
    settings: Settings,
    key: ed25519.Ed25519PrivateKey,
    as_of: date,
    loan_ids: Sequence[str] | None = None,
    skip: Collection[str] = (),
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(loan id, files) of the pack of every loan that turned to default by ``as_of`` (of
    ``loan_ids`` when given), except those in ``skip``, reading the lake and the landing
    zone once for all of them. A loan whose pack cannot be built does not stop the others:
    the error naming every such loan is raised after the last pack.

    Raises:
        EvidenceError: a loan named in ``loan_ids`` has not defaulted, or a pack cannot be
            built (its message names the loan and the cause).
        PolicyError: the trust policy is unusable.
    """
    books = read_books(settings)
    defaults = default_dates(books.performance, as_of)
    defaults = defaults[~defaults["loan_id"].isin(set(skip))]
    todo = cases(books.applications, defaults, books.reviews, books.alerts, loan_ids)
    if not todo:
        return
    rows = record_rows(settings.lake_uri, todo, as_of)
    chain = _chain(settings, rows)
    failed = []
    for case in todo:
        try:
            files = build_pack(case, books, rows[rows["loan_id"] == case.loan_id], chain, key, as_of)
        except EvidenceError as exc:  # the other loans' packs are still built; this one is named
            failed.append(str(exc))
            continue
        yield case.loan_id, files
    if failed:
        raise EvidenceError(f"{len(failed)} of {len(todo)} packs not built: " + "; ".join(failed))


def pending_defaults(settings: Settings, as_of: date, rewrite: bool = False) -> list[str]:
    """Loans that turned to default by ``as_of`` and have no pack yet (all of them with
    ``rewrite``), from the bank's performance table alone."""
    from pipelines.scoring import read_bank

    defaults = default_dates(read_bank(settings.bank_uri, "loan_performance"), as_of)
    skip = set() if rewrite else existing_packs(settings.lake_uri)
    return [str(loan) for loan in defaults["loan_id"] if loan not in skip]


def write_loan_packs(
    settings: Settings, key: ed25519.Ed25519PrivateKey, as_of: date, loan_ids: Sequence[str]
) -> list[str]:
    """Write the packs of ``loan_ids`` to ``<lake>/evidence/``; the loans written."""
    written = []
    if loan_ids:
        for loan_id, files in build_packs(settings, key, as_of, loan_ids):
            write_pack(f"{evidence_root(settings.lake_uri)}/{loan_id}", files)
            written.append(loan_id)
    return written


def write_packs(
    settings: Settings, key: ed25519.Ed25519PrivateKey, as_of: date, rewrite: bool = False
) -> dict[str, Any]:
    """Write the pack of every loan that turned to default by ``as_of`` and has none yet
    (every one with ``rewrite``), then the buyer's CSV."""
    written = write_loan_packs(settings, key, as_of, pending_defaults(settings, as_of, rewrite))
    npl = write_npl_csv(settings.lake_uri)
    return {"as_of": as_of.isoformat(), "written": len(written), "packs": len(npl), "loans": written}


def npl_rows(lake_uri: str) -> pd.DataFrame:
    """One row per pack in the lake: what a buyer of the defaulted loans needs first."""
    import hashlib

    fs, base = filesystem(evidence_root(lake_uri))
    rows = []
    for loan_id in sorted(existing_packs(lake_uri)):
        facts = json.loads(fs.cat_file(f"{base}/{loan_id}/loan.json"))
        manifest = json.loads(fs.cat_file(f"{base}/{loan_id}/manifest.json"))
        archive = f"{base}/{loan_id}.zip"
        digest = hashlib.sha256(fs.cat_file(archive)).hexdigest() if fs.exists(archive) else ""
        balance = int(facts["default"]["outstanding_fen"])
        rows.append(
            {
                "loan_id": loan_id,
                "borrower_firm_id": facts["borrower"]["firm_id"],
                "balance_fen": balance,
                "balance_cny": f"{balance / 100:.2f}",
                "default_date": facts["default"]["date"],
                "records": len(manifest["provenance"]),
                "pack_sha256": digest,
                "pack": f"{loan_id}.zip",
                "created_at": manifest["created_at"],
            }
        )
    return pd.DataFrame(rows, columns=NPL_COLUMNS)


def write_npl_csv(lake_uri: str) -> pd.DataFrame:
    """Write ``<lake>/evidence/npl_buyer.csv`` (UTF-8, one row per defaulted loan's pack)."""
    frame = npl_rows(lake_uri)
    sink = io.StringIO()
    frame.to_csv(sink, index=False)
    write_atomic(f"{evidence_root(lake_uri)}/npl_buyer.csv", sink.getvalue().encode("utf-8"))
    return frame
