"""The header phase: each line of headers.jsonl parsed, then the chain of trusted headers
(``fork_detected`` for the bundle; ``header_invalid``, ``header_untrusted`` and
``chain_broken`` for a block and every later one)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attestations.canonical import MAX_SAFE_INTEGER, canonicalize, loads_strict
from attestations.errors import CanonicalizationError
from attestations.hashing import hash_function
from attestations.policy import TrustPolicy
from attestations.reasons import Reason
from attestations.timestamps import TimestampKey, timestamp_key
from attestations.verifier.outcome import BundleResult

HEADER_MEMBERS = frozenset(
    {"chain_id", "height", "prev_hash", "tree_size", "root_hash", "sealed_at", "hash_alg"}
)
ZERO_HASH = "0" * 64

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class ParsedHeader:
    """One line of headers.jsonl, parsed as far as it goes."""

    position: int
    header: dict[str, Any] | None = None
    signatures: Any = None
    problem: str | None = None  # why it is header_invalid, when it is
    header_bytes: bytes | None = None
    header_hash: bytes | None = None
    sealed_key: TimestampKey | None = None

    @property
    def height(self) -> int | None:
        h = self.header.get("height") if self.header is not None else None
        return h if type(h) is int else None


def header_problem(header: dict[str, Any]) -> str | None:
    """Why a header object breaks spec section 4, when it does."""
    if header.keys() != HEADER_MEMBERS:
        return f"header members differ from the spec by {sorted(header.keys() ^ HEADER_MEMBERS)}"
    if not isinstance(header["chain_id"], str):
        return "chain_id is not a string"
    for member, low in (("height", 0), ("tree_size", 1)):
        value = header[member]
        if type(value) is not int or not low <= value <= MAX_SAFE_INTEGER:
            return f"{member} {value!r} is not an integer >= {low}"
    for member in ("prev_hash", "root_hash"):
        if not isinstance(header[member], str) or not _HEX64.fullmatch(header[member]):
            return f"{member} is not 64 lowercase hex characters"
    if header["height"] == 0 and header["prev_hash"] != ZERO_HASH:
        return "height 0 must have a prev_hash of 64 zeros"
    if timestamp_key(header["sealed_at"]) is None:
        return f"sealed_at {header['sealed_at']!r} is not an RFC 3339 UTC time"
    if header["hash_alg"] not in ("sha256", "sm3"):
        return f"hash_alg {header['hash_alg']!r} is unknown"
    return None


def parse_header_line(position: int, raw: bytes, hash_alg: str) -> ParsedHeader:
    """The header line at ``position`` (0 for the first), hashed with ``hash_alg``."""
    parsed = ParsedHeader(position)
    try:
        line = loads_strict(raw.decode("utf-8"))
    except (UnicodeDecodeError, CanonicalizationError) as exc:
        parsed.problem = f"headers line is not JSON ({exc})"
        return parsed
    if not isinstance(line, dict) or not isinstance(line.get("header"), dict):
        parsed.problem = "headers line has no header object"
        return parsed
    parsed.header, parsed.signatures = line["header"], line.get("signatures")
    parsed.problem = header_problem(parsed.header)
    try:
        parsed.header_bytes = canonicalize(parsed.header)
        parsed.header_hash = hash_function(hash_alg)(parsed.header_bytes)
    except CanonicalizationError as exc:
        parsed.problem = parsed.problem or f"header cannot be canonicalized ({exc})"
    if parsed.problem is None:
        parsed.sealed_key = timestamp_key(parsed.header["sealed_at"])
    return parsed


def fork(headers: list[ParsedHeader], trusted: Mapping[int, bytes]) -> str | None:
    """Why the bundle forks from what is already trusted (``fork_detected``), when it does."""
    for h in headers:
        height = h.height
        if height is not None and height in trusted and h.header_hash != trusted[height]:
            return f"header at trusted height {height} has a different hash"
    return None


def _header_reason(
    h: ParsedHeader, prev: ParsedHeader | None, trusted: Mapping[int, bytes], policy: TrustPolicy
) -> tuple[Reason, str] | None:
    """Why header ``h`` (after ``prev``, or first in the bundle) is not trusted, when it is not."""
    if h.problem is not None or h.header is None or h.header_bytes is None or h.sealed_key is None:
        return Reason.HEADER_INVALID, h.problem or "header is invalid"
    header = h.header
    nodes = policy.quorum_nodes(h.header_bytes, h.sealed_key, h.signatures)
    if len(nodes) < policy.threshold:
        return (
            Reason.HEADER_UNTRUSTED,
            f"{len(nodes)} of {policy.threshold} required nodes signed height {header['height']}",
        )
    if prev is None:
        linked = trusted.get(header["height"] - 1)
        if linked is not None and bytes.fromhex(header["prev_hash"]) != linked:
            return (
                Reason.CHAIN_BROKEN,
                f"height {header['height']} does not link to the trusted height {header['height'] - 1}",
            )
        return None
    assert prev.header is not None and prev.header_hash is not None and prev.sealed_key is not None
    if header["height"] != prev.header["height"] + 1:
        return Reason.CHAIN_BROKEN, f"height {header['height']} follows height {prev.header['height']}"
    if bytes.fromhex(header["prev_hash"]) != prev.header_hash:
        return (
            Reason.CHAIN_BROKEN,
            f"prev_hash of height {header['height']} is not the hash of height {prev.header['height']}",
        )
    if h.sealed_key < prev.sealed_key:
        return Reason.CHAIN_BROKEN, f"sealed_at goes back at height {header['height']}"
    return None


def check_headers(
    result: BundleResult,
    headers: list[ParsedHeader],
    first: int,
    trusted: Mapping[int, bytes],
    policy: TrustPolicy,
) -> None:
    """Trust the headers in order until one fails: ``result.trusted_headers`` and
    ``result.sealed_at`` get the trusted ones, ``result.header_failure`` the first failure."""
    prev: ParsedHeader | None = None
    for h in headers:
        failure = _header_reason(h, prev, trusted, policy)
        if failure is not None:
            # The failed block is the one at this position; a header that names an
            # earlier height drags that height down with it.
            at = first + h.position
            if h.height is not None and first <= h.height < at:
                at = h.height
            result.header_failure = (at, *failure)
            for height in [k for k in result.trusted_headers if k >= at]:
                del result.trusted_headers[height]
            return
        assert h.header is not None and h.header_hash is not None
        result.trusted_headers[h.header["height"]] = h.header_hash
        result.sealed_at[h.header["height"]] = h.header["sealed_at"]
        prev = h
