"""What the verifier decides: every line of a bundle verified, duplicate or quarantined, and
what it remembers across bundles."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from attestations.reasons import REASONS

_SPEC_REASONS = frozenset(r.value for r in REASONS)


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
        return {r.value: counts[r] for r in REASONS if counts[r]}

    def summary(self) -> dict[str, Any]:
        """The per-bundle line the CLI prints with ``--json``; a bundle refused before it was
        judged (a failure that is no reason code of the spec, such as the collector's
        ``bundle_unreadable``) also has that failure as a member, with its cause."""
        summary: dict[str, Any] = {
            "bundle_id": self.bundle_id,
            "lines": self.lines,
            "verified": len(self.verified),
            "duplicates": self.duplicates,
            "quarantined": self.quarantine_counts(),
        }
        failure = self.bundle_failure
        if failure is not None and failure[0] not in _SPEC_REASONS:
            summary[failure[0]] = failure[1]
        return summary


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
