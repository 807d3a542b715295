"""Evidence packs: the attested records behind one loan, checkable offline (docs/evidence.md).

A pack is a flat folder (or the same files in a ``.zip``)::

    records.jsonl   record lines copied byte for byte from the ledger export bundles
    headers.jsonl   the signed header line of every height those records reference
    trust.json      the trust policy the records were verified under
    loan.json       the bank's facts, each citing the record ids that support it
    summary.html    a bilingual account for a judge or a buyer of the loan
    VERIFY.md       how to check the pack by hand
    manifest.json   every other file with its SHA-256 and size, the loan id, the creation time
    manifest.sig    a DSSE envelope over manifest.json, signed with the bank's Ed25519
                    evidence key, the public key included

``check_pack`` needs nothing but those bytes (and, optionally, a trust policy the checker
holds, which then takes precedence over the pack's own). It reuses the provenance library:
the quorum rules of ``attestations.policy``, RFC 9162 proofs of ``attestations.merkle``, the
record schema of ``attestations.records`` and RFC 8785 of ``attestations.canonical``. Every
finding names the file it is about; any change to any byte of a pack fails at least one.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from attestations.canonical import canonicalize, is_canonical, loads_strict
from attestations.dsse import decode_signature, pae
from attestations.errors import AttestationError, CanonicalizationError, PolicyError
from attestations.merkle import leaf_hash, verify_inclusion
from attestations.policy import TrustPolicy
from attestations.records import record_problem
from attestations.timestamps import TimestampKey, timestamp_key

PACK_FORMAT = "smecredit-evidence/1"
MANIFEST_PAYLOAD_TYPE = "application/vnd.smecredit.evidence-manifest+json"
CONTENT_FILES = ("records.jsonl", "headers.jsonl", "trust.json", "loan.json", "summary.html", "VERIFY.md")
SIGNED_FILES = ("manifest.json", "manifest.sig")
HEADER_MEMBERS = frozenset(
    {"chain_id", "height", "prev_hash", "tree_size", "root_hash", "sealed_at", "hash_alg"}
)
LINE_MEMBERS = ("height", "index", "leaf", "proof")
_HEX = frozenset("0123456789abcdef")


class PackError(AttestationError, ValueError):
    """A pack cannot be read at all (no such folder, not a zip); the message says why."""


@dataclass(frozen=True)
class Finding:
    """One checked statement about one file of the pack."""

    file: str
    ok: bool
    detail: str

    def line(self) -> str:
        """``ok   file: detail`` or ``FAIL file: detail``."""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.file}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "ok": self.ok, "detail": self.detail}


@dataclass
class PackReport:
    """Every finding about a pack; it holds when there is at least one and none failed."""

    findings: list[Finding] = field(default_factory=list)
    loan_id: str | None = None
    records: int = 0
    headers: int = 0
    key_fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def add(self, file: str, ok: bool, detail: str) -> bool:
        self.findings.append(Finding(file, ok, detail))
        return ok


def key_fingerprint(public_key: ed25519.Ed25519PublicKey) -> str:
    """``sha256:`` and the hex SHA-256 of the raw 32-byte Ed25519 public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def public_pem(public_key: ed25519.Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """manifest.json as written: its RFC 8785 form with a final newline (byte-exact, signed)."""
    return canonicalize(manifest) + b"\n"


def sign_manifest(manifest_raw: bytes, key: ed25519.Ed25519PrivateKey) -> bytes:
    """manifest.sig: a DSSE envelope over ``manifest_raw``, the public key in its signature."""
    public = key.public_key()
    sig = key.sign(pae(MANIFEST_PAYLOAD_TYPE, manifest_raw))
    envelope = {
        "payload": base64.b64encode(manifest_raw).decode("ascii"),
        "payloadType": MANIFEST_PAYLOAD_TYPE,
        "signatures": [
            {
                "keyid": key_fingerprint(public),
                "sig": base64.b64encode(sig).decode("ascii"),
                "public_key": public_pem(public),
            }
        ],
    }
    return canonicalize(envelope) + b"\n"


def file_entry(name: str, data: bytes) -> dict[str, Any]:
    """The manifest's entry for one file."""
    return {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


# --------------------------------------------------------------------------- reading


def read_pack(path: str | Path) -> dict[str, bytes]:
    """Every file of a pack folder, or of a ``.zip`` (one top folder in it is dropped).

    Raises:
        PackError: ``path`` is neither a folder nor a readable zip file.
    """
    where = Path(path)
    if where.is_dir():
        return {str(p.relative_to(where)): p.read_bytes() for p in sorted(where.rglob("*")) if p.is_file()}
    if where.is_file():
        try:
            with zipfile.ZipFile(where) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                files = {n: archive.read(n) for n in names}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise PackError(f"{where} is not a readable zip file: {exc}") from None
        tops = {n.split("/", 1)[0] for n in files}
        if len(tops) == 1 and all("/" in n for n in files):
            files = {n.split("/", 1)[1]: data for n, data in files.items()}
        return files
    raise PackError(f"{where} is neither a pack folder nor a zip file")


def zip_pack(files: Mapping[str, bytes], folder: str) -> bytes:
    """The pack as a deterministic zip: every file under ``folder/``, in name order, with a
    fixed date, so the same files always give the same bytes (and SHA-256)."""
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return sink.getvalue()


# --------------------------------------------------------------------------- signature


def _canonical_b64(text: Any) -> bytes | None:
    """Decoded standard base64, only when ``text`` is exactly the encoding of its bytes
    (base64 lets a last character differ in bits the decoder ignores)."""
    data = decode_signature(text)
    if data is None or base64.b64encode(data).decode("ascii") != text:
        return None
    return data


def _envelope(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """The envelope and its one signature entry, or what is wrong with the file."""
    try:
        envelope = loads_strict(raw.decode("utf-8"))
    except (UnicodeDecodeError, CanonicalizationError) as exc:
        return f"not JSON ({exc})"
    if not isinstance(envelope, dict) or canonicalize(envelope) + b"\n" != raw:
        return "not a DSSE envelope written in RFC 8785 form with one final newline"
    if envelope.get("payloadType") != MANIFEST_PAYLOAD_TYPE:
        return f"payloadType is not {MANIFEST_PAYLOAD_TYPE}"
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict):
        return "the envelope does not hold exactly one signature"
    return envelope, sigs[0]


def _signer(entry: Mapping[str, Any]) -> ed25519.Ed25519PublicKey | str:
    pem = entry.get("public_key")
    try:
        key = serialization.load_pem_public_key(str(pem).encode("ascii"))
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm) as exc:
        return f"the public key does not parse ({exc})"
    if not isinstance(key, ed25519.Ed25519PublicKey):
        return f"the public key is a {type(key).__name__}, not Ed25519"
    if public_pem(key) != pem:
        return "the public key is not in its standard PEM form"
    if entry.get("keyid") != key_fingerprint(key):
        return "keyid is not the SHA-256 fingerprint of the public key"
    return key


def check_signature(files: Mapping[str, bytes], report: PackReport, pinned: str | None = None) -> bool:
    """manifest.sig verifies over manifest.json's exact bytes (and, when ``pinned`` is a
    fingerprint, with that key)."""
    raw, manifest = files.get("manifest.sig"), files.get("manifest.json")
    if raw is None or manifest is None:
        missing = "manifest.sig" if raw is None else "manifest.json"
        return report.add(missing, False, "missing")
    parsed = _envelope(raw)
    if isinstance(parsed, str):
        return report.add("manifest.sig", False, parsed)
    envelope, entry = parsed
    key = _signer(entry)
    if isinstance(key, str):
        return report.add("manifest.sig", False, key)
    payload, sig = _canonical_b64(envelope.get("payload")), _canonical_b64(entry.get("sig"))
    if payload is None or sig is None:
        return report.add("manifest.sig", False, "payload or sig is not canonical standard base64")
    try:
        key.verify(sig, pae(MANIFEST_PAYLOAD_TYPE, payload))
    except Exception:  # InvalidSignature, or a signature of the wrong length
        return report.add("manifest.sig", False, "the Ed25519 signature does not verify over its payload")
    report.key_fingerprint = key_fingerprint(key)
    if payload != manifest:
        return report.add("manifest.json", False, "differs from the payload signed in manifest.sig")
    if pinned is not None and pinned != report.key_fingerprint:
        return report.add("manifest.sig", False, f"signed by {report.key_fingerprint}, not by {pinned}")
    who = "the pinned" if pinned else "the included"
    return report.add("manifest.sig", True, f"Ed25519 signature by {who} key {report.key_fingerprint} holds")


# --------------------------------------------------------------------------- manifest


def _manifest(raw: bytes, report: PackReport) -> dict[str, Any] | None:
    try:
        manifest = loads_strict(raw.decode("utf-8"))
    except (UnicodeDecodeError, CanonicalizationError) as exc:
        report.add("manifest.json", False, f"not JSON ({exc})")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        report.add("manifest.json", False, f"not a {PACK_FORMAT} manifest")
        return None
    if not isinstance(manifest.get("loan_id"), str) or not isinstance(manifest.get("files"), list):
        report.add("manifest.json", False, "has no loan_id string or no files list")
        return None
    report.loan_id = manifest["loan_id"]
    return manifest


def check_files(files: Mapping[str, bytes], manifest: Mapping[str, Any], report: PackReport) -> None:
    """Every listed file is present with its size and SHA-256; every file is listed."""
    listed: set[str] = set()
    for entry in manifest["files"]:
        name = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(name, str) or name in SIGNED_FILES or name in listed:
            report.add("manifest.json", False, f"bad or repeated files entry {entry!r}")
            continue
        listed.add(name)
        data = files.get(name)
        if data is None:
            report.add(name, False, "listed in the manifest but missing from the pack")
        elif len(data) != entry.get("size") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            report.add(name, False, "size or SHA-256 differs from the manifest")
        else:
            report.add(name, True, f"SHA-256 {entry['sha256']} and size {len(data)} match the manifest")
    for name in CONTENT_FILES:
        if name not in listed:
            report.add(name, False, "not listed in the manifest")
    for name in sorted(set(files) - listed - set(SIGNED_FILES)):
        report.add(name, False, "is in the pack but not listed in the manifest")


# --------------------------------------------------------------------------- headers


def _header_problem(header: Any, policy: TrustPolicy) -> str | None:
    if not isinstance(header, dict) or header.keys() != HEADER_MEMBERS:
        return "the header is not an object with exactly the spec's seven members"
    if header["chain_id"] != policy.chain_id or header["hash_alg"] != policy.hash_alg:
        return f"chain_id or hash_alg differs from the policy's ({policy.chain_id}, {policy.hash_alg})"
    for member, low in (("height", 0), ("tree_size", 1)):
        if type(header[member]) is not int or header[member] < low:
            return f"{member} is not an integer >= {low}"
    for member in ("prev_hash", "root_hash"):
        value = header[member]
        if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
            return f"{member} is not 64 lowercase hex characters"
    if timestamp_key(header["sealed_at"]) is None:
        return "sealed_at is not an RFC 3339 UTC time"
    return None


@dataclass(frozen=True)
class _Block:
    tree_size: int
    root: bytes
    sealed_at: str


def check_headers(raw: bytes, policy: TrustPolicy, report: PackReport) -> dict[int, _Block]:
    """The trusted blocks of headers.jsonl by height: each line a valid header of the
    policy's chain whose signatures meet the quorum with keys valid at its ``sealed_at``."""
    blocks: dict[int, _Block] = {}
    failed = 0
    for n, line in _lines(raw):
        problem, header = _header_line(line, policy)
        if problem is None and header["height"] in blocks:
            problem = f"height {header['height']} appears twice"
        if problem is not None:
            failed += 1
            report.add("headers.jsonl", False, f"line {n}: {problem}")
            continue
        blocks[header["height"]] = _Block(
            header["tree_size"], bytes.fromhex(header["root_hash"]), header["sealed_at"]
        )
    report.headers = len(blocks)
    if not failed:
        report.add(
            "headers.jsonl",
            True,
            f"{len(blocks)} headers of chain {policy.chain_id}, each signed by at least "
            f"{policy.threshold} trusted nodes with keys valid when it was sealed",
        )
    return blocks


def _header_line(line: bytes, policy: TrustPolicy) -> tuple[str | None, Any]:
    try:
        parsed = loads_strict(line.decode("utf-8"))
    except (UnicodeDecodeError, CanonicalizationError) as exc:
        return f"not JSON ({exc})", None
    header = parsed.get("header") if isinstance(parsed, dict) else None
    problem = _header_problem(header, policy)
    if problem is not None:
        return problem, None
    assert isinstance(header, dict)
    sealed: TimestampKey | None = timestamp_key(header["sealed_at"])
    assert sealed is not None
    nodes = policy.quorum_nodes(canonicalize(header), sealed, parsed.get("signatures"))
    if len(nodes) < policy.threshold:
        return (
            f"height {header['height']}: {len(nodes)} of {policy.threshold} required nodes "
            f"signed it with keys the policy trusts at {header['sealed_at']}",
            None,
        )
    return None, header


def _lines(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """JSONL lines as the export spec splits them: on ``\\n``, empty segments dropped."""
    for n, segment in enumerate(raw.split(b"\n"), start=1):
        if segment:
            yield n, segment


# --------------------------------------------------------------------------- records


def _record_line(line: bytes, blocks: Mapping[int, _Block], hash_alg: str) -> str | dict[str, Any]:
    """The record of one records.jsonl line, or why it does not hold."""
    try:
        parsed = loads_strict(line.decode("utf-8"))
        height, index, leaf, proof = (parsed[m] for m in LINE_MEMBERS)
    except (UnicodeDecodeError, CanonicalizationError, TypeError, KeyError) as exc:
        return f"not a JSON object with height, index, leaf and proof ({exc})"
    if type(height) is not int or type(index) is not int or not isinstance(leaf, str):
        return "height, index or leaf has the wrong type"
    if not isinstance(proof, list) or not all(
        isinstance(p, str) and len(p) == 64 and set(p) <= _HEX for p in proof
    ):
        return "proof is not a list of 64-character lowercase hex hashes"
    block = blocks.get(height)
    if block is None:
        return f"height {height} has no trusted header in headers.jsonl"
    try:
        data = leaf.encode("utf-8")
    except UnicodeEncodeError:
        return "leaf holds a lone surrogate"
    path = [bytes.fromhex(p) for p in proof]
    if not verify_inclusion(leaf_hash(data, hash_alg), index, block.tree_size, path, block.root, hash_alg):
        return f"the audit path of index {index} does not lead to the root of block {height}"
    if not is_canonical(leaf):
        return "the leaf is not its own RFC 8785 serialisation"
    record = loads_strict(leaf)
    source = record.get("source") if isinstance(record, dict) else None
    problem = record_problem(record, source if isinstance(source, str) else "")
    if problem is not None:
        return f"the leaf is not a valid record: {problem[1]}"
    assert isinstance(record, dict)
    return record


def check_records(
    raw: bytes, blocks: Mapping[int, _Block], hash_alg: str, report: PackReport
) -> dict[str, dict[str, Any]]:
    """The records of records.jsonl by id: each proven into a trusted block, canonical and
    valid, no id twice."""
    records: dict[str, dict[str, Any]] = {}
    failed = 0
    for n, line in _lines(raw):
        outcome = _record_line(line, blocks, hash_alg)
        if isinstance(outcome, dict) and outcome["record_id"] in records:
            outcome = f"record {outcome['record_id']} appears twice"
        if isinstance(outcome, str):
            failed += 1
            report.add("records.jsonl", False, f"line {n}: {outcome}")
            continue
        records[outcome["record_id"]] = outcome
    report.records = len(records)
    if not failed:
        report.add(
            "records.jsonl",
            True,
            f"{len(records)} records, each canonical and proven by its audit path to a trusted header",
        )
    return records


# --------------------------------------------------------------------------- loan facts


def cited_records(value: Any) -> Iterator[str]:
    """Every record id ``loan.json`` cites: the strings of any member named ``records``
    and of any member named ``record_id``, at any depth."""
    if isinstance(value, dict):
        for key, member in value.items():
            if key == "records" and isinstance(member, list):
                yield from (str(r) for r in member)
            elif key == "record_id" and isinstance(member, str):
                yield member
            else:
                yield from cited_records(member)
    elif isinstance(value, list):
        for item in value:
            yield from cited_records(item)


def check_loan(raw: bytes, records: Mapping[str, Any], report: PackReport) -> None:
    """loan.json is strict JSON about the manifest's loan and cites only records in the pack."""
    try:
        loan = loads_strict(raw.decode("utf-8"))
    except (UnicodeDecodeError, CanonicalizationError) as exc:
        report.add("loan.json", False, f"not JSON ({exc})")
        return
    if not isinstance(loan, dict) or (report.loan_id is not None and loan.get("loan_id") != report.loan_id):
        report.add("loan.json", False, f"is not about loan {report.loan_id}")
        return
    cited = set(cited_records(loan))
    missing = sorted(cited - set(records))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        report.add("loan.json", False, f"cites {len(missing)} records not in records.jsonl: {shown}")
    else:
        report.add("loan.json", True, f"cites {len(cited)} records, every one of them in records.jsonl")


# --------------------------------------------------------------------------- the whole pack


def _policy(files: Mapping[str, bytes], trust: TrustPolicy | None, report: PackReport) -> TrustPolicy | None:
    if trust is not None:
        report.add(
            "trust.json", True, f"the checker's own trust policy for {trust.chain_id} takes precedence"
        )
        return trust
    try:
        policy = TrustPolicy.from_json(files.get("trust.json", b""))
    except PolicyError as exc:
        report.add("trust.json", False, str(exc))
        return None
    report.add(
        "trust.json", True, f"the pack's trust policy for {policy.chain_id} is used (no --trust given)"
    )
    return policy


def check_pack(
    files: Mapping[str, bytes], trust: TrustPolicy | None = None, pinned_key: str | None = None
) -> PackReport:
    """Check a pack's bytes: the manifest signature, every file's hash, every header's quorum
    under ``trust`` (else the pack's trust.json), every record's proof and canonical form,
    and that loan.json cites only records in the pack."""
    report = PackReport()
    check_signature(files, report, pinned_key)
    manifest = _manifest(files.get("manifest.json", b""), report)
    if manifest is not None:
        check_files(files, manifest, report)
    policy = _policy(files, trust, report)
    records: dict[str, dict[str, Any]] = {}
    if policy is not None:
        blocks = check_headers(files.get("headers.jsonl", b""), policy, report)
        records = check_records(files.get("records.jsonl", b""), blocks, policy.hash_alg, report)
    check_loan(files.get("loan.json", b""), records, report)
    return report


def verify_pack(
    path: str | Path, trust: TrustPolicy | None = None, pinned_key: str | None = None
) -> PackReport:
    """``check_pack`` of the pack folder or zip at ``path``.

    Raises:
        PackError: ``path`` cannot be read as a pack.
    """
    return check_pack(read_pack(path), trust, pinned_key)
