"""The bank's verifier: sorts every line of a bundle into verified, duplicate or quarantined.

Spec section 6 decides the outcome of each line, with its precedence (bundle before header
before record, and each table in order); section 8 settles the edge cases. Notes on the
points the spec leaves to the reader are in docs/verifier-notes.md.
"""

from __future__ import annotations

import gc
import json
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

from attestations import FORMAT
from attestations.canonical import (
    MAX_SAFE_INTEGER,
    canonicalize,
    canonicalize_checked,
    loads_strict,
    reject_constant,
)
from attestations.dsse import MANIFEST_PAYLOAD_TYPE, pae
from attestations.errors import CanonicalizationError
from attestations.hashing import hash_function, sha256_hex
from attestations.merkle import BlockInclusionVerifier, hex_audit_paths
from attestations.policy import TrustPolicy
from attestations.records import SOURCES, record_problem
from attestations.timestamps import TimestampKey, timestamp_key

BUNDLE_FILES = ("manifest.json", "manifest.sig", "headers.jsonl", "records.jsonl")
HEADER_MEMBERS = frozenset(
    {"chain_id", "height", "prev_hash", "tree_size", "root_hash", "sealed_at", "hash_alg"}
)
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
ZERO_HASH = "0" * 64

# Every reason code, in the spec's order of precedence.
REASONS = (
    "manifest_invalid",
    "manifest_mismatch",
    "chain_mismatch",
    "fork_detected",
    "header_invalid",
    "header_untrusted",
    "chain_broken",
    "line_invalid",
    "unknown_block",
    "index_out_of_range",
    "proof_invalid",
    "record_invalid",
    "firm_id_invalid",
    "non_canonical",
    "conflicting_record",
)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_STR_ONLY = {str}
_LEN_64 = {64}


def _unhex_proof(proof: list[str]) -> bytes | None:
    """The proof entries decoded and packed, or None unless each is 64 lowercase hex digits."""
    if proof and set(map(len, proof)) != _LEN_64:
        return None
    joined = "".join(proof)
    try:
        packed = bytes.fromhex(joined)
    except ValueError:
        return None
    # fromhex also takes upper case and spaces; the round trip admits only lower-case hex.
    return packed if packed.hex() == joined else None


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector off while a bundle is judged.

    Judging allocates a few container objects per line and keeps most of them; each full
    collection then walks everything kept so far, which more than doubled the time of a
    large bundle. The verifier builds no reference cycles, so plain reference counting frees
    everything; the collector is switched back on (when it was on) on the way out.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class VerifierStore(Protocol):
    """What the verifier remembers per chain across bundles and runs (spec section 8)."""

    def trusted_headers(self, chain_id: str, heights: Collection[int]) -> dict[int, bytes]:
        """Header hashes already trusted at any of ``heights``."""
        ...

    def known_records(self, chain_id: str, record_ids: Collection[str]) -> dict[str, bytes]:
        """Leaf hashes of already verified records among ``record_ids``."""
        ...

    def commit(self, chain_id: str, result: BundleResult) -> None:
        """Persist ``result`` atomically: the headers it trusted, the records it verified and
        its quarantine. Called for every bundle, failed ones included."""
        ...


@dataclass(frozen=True)
class BundleFiles:
    """The raw bytes of a bundle's four files; None for a file that is missing or unreadable."""

    name: str
    manifest: bytes | None
    manifest_sig: bytes | None
    headers: bytes | None
    records: bytes | None

    @classmethod
    def from_reader(cls, name: str, read: Callable[[str], bytes]) -> BundleFiles:
        """Read the four files with ``read(file_name)``; a file it cannot read (``OSError``
        or ``ValueError``) is None, and the verifier says what that means."""

        def attempt(file: str) -> bytes | None:
            try:
                return read(file)
            except (OSError, ValueError):
                return None

        manifest, sig, headers, records = (attempt(f) for f in BUNDLE_FILES)
        return cls(name, manifest, sig, headers, records)

    @classmethod
    def read_dir(cls, path: str | Path) -> BundleFiles:
        """Read a bundle folder on the local file system."""
        folder = Path(path)
        return cls.from_reader(str(path), lambda file: (folder / file).read_bytes())


@dataclass(slots=True)
class VerifiedRecord:
    """A record proven to sit in a trusted block, with its attestation."""

    line_no: int
    record_id: str
    height: int
    index: int
    leaf: str
    leaf_hash: bytes
    sealed_at: str
    record: dict[str, Any]


class QuarantinedLine(NamedTuple):
    """A rejected line, kept verbatim with its reason code and a one-line detail."""

    line_no: int
    reason: str
    detail: str
    raw: bytes


@dataclass
class BundleResult:
    """The outcome of one bundle: every line is in exactly one of the three outcomes."""

    name: str
    bundle_id: str
    source: str | None
    chain_id: str | None
    lines: int
    verified: list[VerifiedRecord] = field(default_factory=list)
    duplicate_lines: list[int] = field(default_factory=list)
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    bundle_failure: tuple[str, str] | None = None
    header_failure: tuple[int, str, str] | None = None
    trusted_headers: dict[int, bytes] = field(default_factory=dict)
    sealed_at: dict[int, str] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        """How many lines repeated a record already verified."""
        return len(self.duplicate_lines)

    def quarantine_counts(self) -> dict[str, int]:
        """Quarantined lines per reason code, in the spec's order."""
        counts = Counter(q.reason for q in self.quarantined)
        return {r: counts[r] for r in REASONS if counts[r]}

    def summary(self) -> dict[str, Any]:
        """The per-bundle line the CLI prints with ``--json``."""
        return {
            "bundle_id": self.bundle_id,
            "lines": self.lines,
            "verified": len(self.verified),
            "duplicates": self.duplicates,
            "quarantined": self.quarantine_counts(),
        }


def _parse_line(raw: bytes) -> Any:
    """A records.jsonl line parsed as JSON, or None when it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses some valid JSON (integers beyond 64 bits, escaped lone surrogates,
    # deep nesting): the standard parser decides those, NaN and Infinity still refused.
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _fast_record(leaf_bytes: bytes, source: str) -> dict[str, Any] | None:
    """The record when the leaf is a valid record in canonical form, by the fast path; None
    when the fast path cannot say (then ``_judge_record`` decides, by the reference path).

    Exact, never approximate: after ``record_problem`` has checked every member, the record
    holds only ASCII-keyed objects, strings and safe-range integers, for which orjson's
    sorted output is byte for byte the RFC 8785 serialisation. Only a leaf equal to that
    output is accepted here; anything else goes the slow way.
    """
    try:
        record = orjson.loads(leaf_bytes)
    except orjson.JSONDecodeError:
        return None
    if record_problem(record, source) is not None:
        return None
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS) == leaf_bytes
    return record if canonical else None


def _judge_record(leaf: str, leaf_bytes: bytes, source: str) -> dict[str, Any] | tuple[str, str]:
    """The reference path: the record, or ``(reason, detail)`` by the spec's order."""
    try:
        record = loads_strict(leaf)
    except CanonicalizationError as exc:
        return "record_invalid", f"leaf is not strict JSON ({exc})"
    problem = record_problem(record, source)
    if problem is not None:
        return problem
    try:
        # record_problem has checked every member's type, so the walk of canonicalize()
        # would find nothing: encode directly.
        canonical = canonicalize_checked(record) == leaf_bytes
    except CanonicalizationError as exc:
        return "record_invalid", str(exc)
    if not canonical:
        return "non_canonical", "leaf is not its own RFC 8785 serialisation"
    return record  # type: ignore[no-any-return]


def _proven_record(
    line_no: int,
    height: int,
    index: int,
    leaf: str,
    leaf_bytes: bytes,
    leaf_hash: bytes,
    sealed_at: str,
    source: str,
) -> VerifiedRecord | tuple[str, str]:
    """The record checks of a line whose proof holds: the verified record, or ``(reason,
    detail)`` by the spec's order. The fast path first, the reference path when it cannot say."""
    record = _fast_record(leaf_bytes, source)
    if record is None:
        judged = _judge_record(leaf, leaf_bytes, source)
        if isinstance(judged, tuple):
            return judged
        record = judged
    return VerifiedRecord(line_no, record["record_id"], height, index, leaf, leaf_hash, sealed_at, record)


def split_lines(data: bytes) -> list[tuple[int, bytes]]:
    """Lines of a JSONL file as ``(line_no, bytes)``: split on ``\\n``, empty segments dropped."""
    return [(n, seg) for n, seg in enumerate(data.split(b"\n"), start=1) if seg]


@dataclass
class _Header:
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


def _header_problem(header: dict[str, Any]) -> str | None:
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


def _parse_header_line(position: int, raw: bytes, hash_alg: str) -> _Header:
    parsed = _Header(position)
    try:
        line = loads_strict(raw.decode("utf-8"))
    except (UnicodeDecodeError, CanonicalizationError) as exc:
        parsed.problem = f"headers line is not JSON ({exc})"
        return parsed
    if not isinstance(line, dict) or not isinstance(line.get("header"), dict):
        parsed.problem = "headers line has no header object"
        return parsed
    parsed.header, parsed.signatures = line["header"], line.get("signatures")
    parsed.problem = _header_problem(parsed.header)
    try:
        parsed.header_bytes = canonicalize(parsed.header)
        parsed.header_hash = hash_function(hash_alg)(parsed.header_bytes)
    except CanonicalizationError as exc:
        parsed.problem = parsed.problem or f"header cannot be canonicalized ({exc})"
    if parsed.problem is None:
        parsed.sealed_key = timestamp_key(parsed.header["sealed_at"])
    return parsed


def _manifest_problem(files: BundleFiles, policy: TrustPolicy) -> tuple[dict[str, Any] | None, str | None]:
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
    if policy.exporters is None:
        return manifest, "the trust policy lists no exporters"
    if files.manifest_sig is None:
        return manifest, "manifest.sig is missing or unreadable"
    try:
        sig = json.loads(files.manifest_sig.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return manifest, "manifest.sig is not JSON"
    if not isinstance(sig, dict):
        return manifest, "manifest.sig is not an object"
    payload = pae(MANIFEST_PAYLOAD_TYPE, files.manifest)
    if not policy.exporter_signed(payload, manifest["source"], exported_at, sig.get("keyid"), sig.get("sig")):
        return manifest, f"no valid {manifest['source']} exporter signature (keyid {sig.get('keyid')!r})"
    return manifest, None


def _mismatch(files: BundleFiles, manifest: dict[str, Any], headers: list[_Header], lines: int) -> str | None:
    if files.headers is None or files.records is None:
        return "headers.jsonl or records.jsonl is missing or unreadable"
    if sha256_hex(files.headers) != manifest["headers_sha256"]:
        return "headers.jsonl SHA-256 differs from the manifest"
    if sha256_hex(files.records) != manifest["records_sha256"]:
        return "records.jsonl SHA-256 differs from the manifest"
    if lines != manifest["record_count"]:
        return f"records.jsonl has {lines} lines, the manifest says {manifest['record_count']}"
    first, last = manifest["first_height"], manifest["last_height"]
    if not headers or first < 0 or first > last:
        return f"headers.jsonl does not cover heights {first}..{last}"
    for end, want in ((headers[0], first), (headers[-1], last)):
        if end.height is not None and end.height != want:
            span = f"{headers[0].height}..{headers[-1].height}"
            return f"headers.jsonl spans heights {span}, the manifest {first}..{last}"
    return None


def _chain_mismatch(manifest: dict[str, Any], headers: list[_Header], policy: TrustPolicy) -> str | None:
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


def _fork(headers: list[_Header], trusted: Mapping[int, bytes]) -> str | None:
    for h in headers:
        height = h.height
        if height is not None and height in trusted and h.header_hash != trusted[height]:
            return f"header at trusted height {height} has a different hash"
    return None


class Verifier:
    """Verifies bundles of one chain against a trust policy, remembering what it trusted.

    Args:
        policy: the bank's trust policy.
        store: where trusted header hashes and verified record ids persist between bundles
            and runs; see ``attestations.state``.
    """

    def __init__(self, policy: TrustPolicy, store: VerifierStore) -> None:
        self.policy = policy
        self.store = store
        self._hash = hash_function(policy.hash_alg)

    def verify(self, files: BundleFiles) -> BundleResult:
        """Verify one bundle, commit what it proved to the store, and return every line's outcome."""
        result = self.evaluate(files)
        self.store.commit(self.policy.chain_id, result)
        return result

    def evaluate(self, files: BundleFiles) -> BundleResult:
        """Every line's outcome against what the store remembers, without committing: a
        caller that writes outputs first commits afterwards with ``store.commit``."""
        with paused_gc():
            return self._evaluate(files)

    def _evaluate(self, files: BundleFiles) -> BundleResult:
        lines = split_lines(files.records) if files.records is not None else []
        manifest, problem = _manifest_problem(files, self.policy)
        bundle_id = manifest.get("bundle_id") if manifest is not None else None
        result = BundleResult(
            name=files.name,
            bundle_id=bundle_id if isinstance(bundle_id, str) else files.name,
            source=manifest.get("source") if manifest is not None and problem is None else None,
            chain_id=self.policy.chain_id,
            lines=len(lines),
        )
        if problem is not None or manifest is None:
            return self._fail_bundle(result, lines, "manifest_invalid", problem or "")
        raw_headers = split_lines(files.headers) if files.headers is not None else []
        headers = [_parse_header_line(i, raw, self.policy.hash_alg) for i, (_, raw) in enumerate(raw_headers)]
        problem = _mismatch(files, manifest, headers, len(lines))
        if problem is not None:
            return self._fail_bundle(result, lines, "manifest_mismatch", problem)
        problem = _chain_mismatch(manifest, headers, self.policy)
        if problem is not None:
            return self._fail_bundle(result, lines, "chain_mismatch", problem)
        first, last = manifest["first_height"], manifest["last_height"]
        heights = {h.height for h in headers if h.height is not None} | {first - 1}
        trusted = self.store.trusted_headers(self.policy.chain_id, heights)
        problem = _fork(headers, trusted)
        if problem is not None:
            return self._fail_bundle(result, lines, "fork_detected", problem)
        self._check_headers(result, headers, first, trusted)
        self._check_lines(result, lines, headers, first, last, manifest["source"])
        return result

    @staticmethod
    def _fail_bundle(
        result: BundleResult, lines: list[tuple[int, bytes]], reason: str, detail: str
    ) -> BundleResult:
        result.bundle_failure = (reason, detail)
        result.quarantined = [QuarantinedLine(n, reason, detail, raw) for n, raw in lines]
        return result

    def _header_reason(
        self, h: _Header, prev: _Header | None, trusted: Mapping[int, bytes]
    ) -> tuple[str, str] | None:
        if h.problem is not None or h.header is None or h.header_bytes is None or h.sealed_key is None:
            return "header_invalid", h.problem or "header is invalid"
        header = h.header
        nodes = self.policy.quorum_nodes(h.header_bytes, h.sealed_key, h.signatures)
        if len(nodes) < self.policy.threshold:
            return (
                "header_untrusted",
                f"{len(nodes)} of {self.policy.threshold} required nodes signed height {header['height']}",
            )
        if prev is None:
            linked = trusted.get(header["height"] - 1)
            if linked is not None and bytes.fromhex(header["prev_hash"]) != linked:
                return (
                    "chain_broken",
                    f"height {header['height']} does not link to the trusted height {header['height'] - 1}",
                )
            return None
        assert prev.header is not None and prev.header_hash is not None and prev.sealed_key is not None
        if header["height"] != prev.header["height"] + 1:
            return "chain_broken", f"height {header['height']} follows height {prev.header['height']}"
        if bytes.fromhex(header["prev_hash"]) != prev.header_hash:
            return (
                "chain_broken",
                f"prev_hash of height {header['height']} is not the hash of height {prev.header['height']}",
            )
        if h.sealed_key < prev.sealed_key:
            return "chain_broken", f"sealed_at goes back at height {header['height']}"
        return None

    def _check_headers(
        self, result: BundleResult, headers: list[_Header], first: int, trusted: Mapping[int, bytes]
    ) -> None:
        prev: _Header | None = None
        for h in headers:
            failure = self._header_reason(h, prev, trusted)
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

    def _check_lines(
        self,
        result: BundleResult,
        lines: list[tuple[int, bytes]],
        headers: list[_Header],
        first: int,
        last: int,
        source: str,
    ) -> None:
        """Every line's record-level outcome, by the spec's order of precedence.

        The fast path takes the lines of a trusted block that are well-formed JSON of the
        right types with an index in range, and holds every leaf of the block once: the
        block's tree is rebuilt from those leaves, and when its root is the header's, a line
        whose proof equals its leaf's audit path is proven (see ``hex_audit_paths``). Every
        other line, and every line of a block whose leaves do not rebuild its root, goes
        through ``_judge_line``, the reference path, which decides each reason code.
        """
        blocks: dict[int, BlockInclusionVerifier] = {}
        candidates: list[tuple[bytes, VerifiedRecord]] = []
        fail_at, fail_reason, fail_detail = result.header_failure or (last + 1, "", "")
        # Trusted headers are valid and sit at consecutive heights from ``first``.
        sizes = [h.header["tree_size"] if h.header else 0 for h in headers[: max(0, fail_at - first)]]
        by_block: dict[int, list[tuple[int, bytes, int, str, Any]]] = {}
        slow: list[tuple[int, bytes]] = []
        for line_no, raw in lines:
            line = _parse_line(raw)
            try:
                height, index, leaf, proof = line["height"], line["index"], line["leaf"], line["proof"]
            except (TypeError, KeyError):
                slow.append((line_no, raw))
                continue
            if (
                type(height) is int
                and type(index) is int
                and type(leaf) is str
                and type(proof) is list
                and first <= height < fail_at
                and 0 <= index < sizes[height - first]
            ):
                bucket = by_block.setdefault(height, [])
                bucket.append((line_no, raw, index, leaf, proof))
                if len(bucket) == sizes[height - first]:
                    # A block is judged as soon as it can be complete, so that the parsed
                    # proofs of a large bundle are not all held at once.
                    self._prove_block(
                        result, headers[height - first], by_block.pop(height), source, candidates, slow
                    )
            else:
                slow.append((line_no, raw))
        for height, items in by_block.items():
            self._prove_block(result, headers[height - first], items, source, candidates, slow)
        quarantine = result.quarantined.append
        for line_no, raw in slow:
            outcome = self._judge_line(line_no, raw, headers, blocks, first, last, fail_at, source)
            if isinstance(outcome, VerifiedRecord):
                candidates.append((raw, outcome))
            elif isinstance(outcome, tuple):
                quarantine(QuarantinedLine(line_no, outcome[0], outcome[1], raw))
            else:  # a well-formed line in or after the failed block
                quarantine(QuarantinedLine(line_no, fail_reason, fail_detail, raw))
        # Duplicates and conflicts are judged in line order, whichever path proved a line.
        candidates.sort(key=lambda c: c[1].line_no)
        self._dedupe(result, candidates)
        result.quarantined.sort(key=lambda q: q.line_no)

    def _prove_block(
        self,
        result: BundleResult,
        parsed: _Header,
        items: list[tuple[int, bytes, int, str, Any]],
        source: str,
        candidates: list[tuple[bytes, VerifiedRecord]],
        slow: list[tuple[int, bytes]],
    ) -> None:
        """The fast path for the well-formed lines of one trusted block: proven lines go on to
        the record checks, the others to ``slow``."""
        header = parsed.header
        assert header is not None
        proven = self._audit_paths(header, items)
        if proven is None:
            slow.extend((item[0], item[1]) for item in items)
            return
        expected, leaf_hashes, leaf_bytes = proven
        height, sealed_at = header["height"], header["sealed_at"]
        for line_no, raw, index, leaf, proof in items:
            if proof != expected[index]:
                slow.append((line_no, raw))
                continue
            outcome = _proven_record(
                line_no, height, index, leaf, leaf_bytes[index], leaf_hashes[index], sealed_at, source
            )
            if isinstance(outcome, VerifiedRecord):
                candidates.append((raw, outcome))
            else:
                result.quarantined.append(QuarantinedLine(line_no, *outcome, raw))

    def _audit_paths(
        self, header: dict[str, Any], items: list[tuple[int, bytes, int, str, Any]]
    ) -> tuple[list[list[str]], list[bytes], list[bytes]] | None:
        """Every audit path of the block as hex, every leaf hash and every leaf's bytes, by
        index, when ``items`` hold each of its leaves exactly once and those leaves rebuild
        the header's root; else None."""
        size = header["tree_size"]
        if len(items) != size:
            return None
        by_index: list[str | None] = [None] * size
        for item in items:
            by_index[item[2]] = item[3]
        if None in by_index:
            return None
        leaf_bytes = [leaf.encode("utf-8", "surrogatepass") for leaf in by_index]  # type: ignore[union-attr]
        h = self._hash
        hashes = [h(b"\x00" + data) for data in leaf_bytes]
        root, paths = hex_audit_paths(hashes, self.policy.hash_alg)
        return (paths, hashes, leaf_bytes) if root.hex() == header["root_hash"] else None

    def _judge_line(
        self,
        line_no: int,
        raw: bytes,
        headers: list[_Header],
        blocks: dict[int, BlockInclusionVerifier],
        first: int,
        last: int,
        fail_at: int,
        source: str,
    ) -> VerifiedRecord | tuple[str, str] | int:
        """One line's record-level outcome; its height (an int) when a header failure takes it."""
        line = _parse_line(raw)
        try:
            height, index, leaf, proof = line["height"], line["index"], line["leaf"], line["proof"]
        except (TypeError, KeyError):
            return "line_invalid", "line is not a JSON object with height, index, leaf and proof"
        if (
            type(height) is not int
            or type(index) is not int
            or type(leaf) is not str
            or type(proof) is not list
            or not set(map(type, proof)) <= _STR_ONLY
        ):
            return "line_invalid", "height, index, leaf or proof has the wrong type"
        if not first <= height <= last:
            return "unknown_block", f"height {height} is outside {first}..{last}"
        if height >= fail_at:
            return height
        header = headers[height - first].header
        assert header is not None
        if not 0 <= index < header["tree_size"]:
            return "index_out_of_range", f"index {index} outside block {height} of {header['tree_size']}"
        packed = _unhex_proof(proof)
        if packed is None:
            return "proof_invalid", "a proof entry is not 64 lowercase hex characters"
        leaf_bytes = leaf.encode("utf-8", "surrogatepass")
        lh = self._hash(b"\x00" + leaf_bytes)
        block = blocks.get(height)
        if block is None:
            root = bytes.fromhex(header["root_hash"])
            block = blocks[height] = BlockInclusionVerifier(root, header["tree_size"], self.policy.hash_alg)
        # Shapes hold by construction: 32-byte slices, a 32-byte digest, index checked above.
        path = tuple([packed[i : i + 32] for i in range(0, len(packed), 32)])
        if not block.verify_unchecked(lh, index, path):
            return "proof_invalid", f"audit path of index {index} does not lead to the root of block {height}"
        return _proven_record(line_no, height, index, leaf, leaf_bytes, lh, header["sealed_at"], source)

    def _dedupe(self, result: BundleResult, candidates: Sequence[tuple[bytes, VerifiedRecord]]) -> None:
        known = self.store.known_records(self.policy.chain_id, {c[1].record_id for c in candidates})
        for raw, rec in candidates:
            line_no = rec.line_no
            seen = known.get(rec.record_id)
            if seen is None:
                known[rec.record_id] = rec.leaf_hash
                result.verified.append(rec)
            elif seen == rec.leaf_hash:
                result.duplicate_lines.append(line_no)
            else:
                result.quarantined.append(
                    QuarantinedLine(
                        line_no,
                        "conflicting_record",
                        f"record_id {rec.record_id!r} was verified with other leaf bytes",
                        raw,
                    )
                )
