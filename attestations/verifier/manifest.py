"""The bundle phase, before any header is judged: the signed manifest (``manifest_invalid``),
the files it describes (``manifest_mismatch``: ``files_mismatch``, ``records_mismatch`` and
``range_mismatch``, in that order) and the chain it names (``chain_mismatch``)."""

from __future__ import annotations

import json
from typing import Any

from attestations import FORMAT
from attestations.canonical import loads_strict
from attestations.dsse import MANIFEST_PAYLOAD_TYPE, pae
from attestations.errors import CanonicalizationError
from attestations.policy import TrustPolicy
from attestations.records import SOURCES
from attestations.timestamps import TimestampKey, timestamp_key
from attestations.verifier.bundle import BundleFiles, LineStream
from attestations.verifier.headers import ParsedHeader

MANIFEST_STRINGS = (
    "format",
    "bundle_id",
    "chain_id",
    "source",
    "exported_at",
    "headers_sha256",
    "records_sha256",
)
MANIFEST_INTEGERS = ("first_height", "last_height", "record_count")


def manifest_problem(files: BundleFiles, policy: TrustPolicy) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed manifest (when it parses) and why it is manifest_invalid (when it is)."""
    if files.manifest is None:
        return None, "manifest.json is missing or unreadable"
    try:
        manifest = loads_strict(files.manifest.decode("utf-8"))
    except (UnicodeDecodeError, CanonicalizationError) as exc:
        return None, f"manifest.json is not JSON ({exc})"
    if not isinstance(manifest, dict):
        return None, "manifest.json is not an object"
    for member in MANIFEST_STRINGS:
        if not isinstance(manifest.get(member), str):
            return manifest, f"manifest member {member} is missing or not a string"
    for member in MANIFEST_INTEGERS:
        if type(manifest.get(member)) is not int:
            return manifest, f"manifest member {member} is missing or not an integer"
    if manifest["format"] != FORMAT:
        return manifest, f"format {manifest['format']!r} is not {FORMAT!r}"
    if manifest["source"] not in SOURCES:
        return manifest, f"source {manifest['source']!r} is not one of {SOURCES}"
    exported_at = timestamp_key(manifest["exported_at"])
    if exported_at is None:
        return manifest, f"exported_at {manifest['exported_at']!r} is not an RFC 3339 UTC time"
    return manifest, _signature_problem(files, manifest, policy, exported_at)


def _signature_problem(
    files: BundleFiles, manifest: dict[str, Any], policy: TrustPolicy, exported_at: TimestampKey
) -> str | None:
    """Why the exporter's signature over manifest.json does not hold, when it does not."""
    if policy.exporters is None:
        return "the trust policy lists no exporters"
    if files.manifest_sig is None:
        return "manifest.sig is missing or unreadable"
    try:
        sig = json.loads(files.manifest_sig.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "manifest.sig is not JSON"
    if not isinstance(sig, dict):
        return "manifest.sig is not an object"
    assert files.manifest is not None  # the manifest parsed
    payload = pae(MANIFEST_PAYLOAD_TYPE, files.manifest)
    if not policy.exporter_signed(payload, manifest["source"], exported_at, sig.get("keyid"), sig.get("sig")):
        return f"no valid {manifest['source']} exporter signature (keyid {sig.get('keyid')!r})"
    return None


def files_mismatch(files: BundleFiles, headers: LineStream, manifest: dict[str, Any]) -> str | None:
    """What ``mismatch`` finds before records.jsonl is read: a JSONL file missing or
    unreadable, or headers.jsonl's SHA-256 (``headers`` read to its end)."""
    if not headers.readable or not files.present("records.jsonl"):
        return "headers.jsonl or records.jsonl is missing or unreadable"
    if headers.hexdigest() != manifest["headers_sha256"]:
        return "headers.jsonl SHA-256 differs from the manifest"
    return None


def records_mismatch(records: LineStream, manifest: dict[str, Any]) -> str | None:
    """What ``mismatch`` finds in records.jsonl (``records`` read to its end): unreadable,
    its SHA-256 or its number of lines."""
    if not records.readable:
        return "headers.jsonl or records.jsonl is missing or unreadable"
    if records.hexdigest() != manifest["records_sha256"]:
        return "records.jsonl SHA-256 differs from the manifest"
    if records.lines != manifest["record_count"]:
        return f"records.jsonl has {records.lines} lines, the manifest says {manifest['record_count']}"
    return None


def range_mismatch(manifest: dict[str, Any], headers: list[ParsedHeader]) -> str | None:
    """Why headers.jsonl does not cover the manifest's height range, when it does not."""
    first, last = manifest["first_height"], manifest["last_height"]
    if not headers or first < 0 or first > last:
        return f"headers.jsonl does not cover heights {first}..{last}"
    for end, want in ((headers[0], first), (headers[-1], last)):
        if end.height is not None and end.height != want:
            span = f"{headers[0].height}..{headers[-1].height}"
            return f"headers.jsonl spans heights {span}, the manifest {first}..{last}"
    return None


def chain_mismatch(manifest: dict[str, Any], headers: list[ParsedHeader], policy: TrustPolicy) -> str | None:
    """Why the bundle belongs to another chain than the policy's (``chain_mismatch``)."""
    if manifest["chain_id"] != policy.chain_id:
        return f"manifest chain_id {manifest['chain_id']!r} is not the policy's {policy.chain_id!r}"
    for h in headers:
        if h.header is None:
            continue
        for member, want in (("chain_id", policy.chain_id), ("hash_alg", policy.hash_alg)):
            if member in h.header and h.header[member] != want:
                return (
                    f"header at position {h.position} has {member} {h.header[member]!r}, the policy {want!r}"
                )
    return None
