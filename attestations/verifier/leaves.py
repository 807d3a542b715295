"""The record checks of a proven leaf (spec sections 2 and 7): ``record_invalid``,
``firm_id_invalid`` and ``non_canonical``, by a fast path that is exact when it answers and
the reference path that decides every case."""

from __future__ import annotations

from typing import Any

import orjson

from attestations.canonical import canonicalize_checked, loads_strict
from attestations.errors import CanonicalizationError
from attestations.reasons import Reason
from attestations.records import record_problem
from attestations.verifier.lines import ProofLine
from attestations.verifier.outcome import QuarantinedLine, VerifiedRecord


def fast_record(leaf_bytes: bytes, source: str) -> dict[str, Any] | None:
    """The record when the leaf is a valid record in canonical form, by the fast path; None
    when the fast path cannot say (then ``judge_record`` decides, by the reference path).

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


def judge_record(leaf: str, leaf_bytes: bytes, source: str) -> dict[str, Any] | tuple[Reason, str]:
    """The reference path: the record, or ``(reason, detail)`` by the spec's order."""
    try:
        record = loads_strict(leaf)
    except CanonicalizationError as exc:
        return Reason.RECORD_INVALID, f"leaf is not strict JSON ({exc})"
    problem = record_problem(record, source)
    if problem is not None:
        return problem
    try:
        # record_problem has checked every member's type, so the walk of canonicalize()
        # would find nothing: encode directly.
        canonical = canonicalize_checked(record) == leaf_bytes
    except CanonicalizationError as exc:
        return Reason.RECORD_INVALID, str(exc)
    if not canonical:
        return Reason.NON_CANONICAL, "leaf is not its own RFC 8785 serialisation"
    return record  # type: ignore[no-any-return]


def proven_record(
    line: ProofLine, leaf_bytes: bytes, leaf_hash: bytes, sealed_at: str, source: str
) -> VerifiedRecord | QuarantinedLine:
    """The record checks of a line whose proof holds: the verified record, or the line
    quarantined by the spec's order. The fast path first, the reference path when it cannot say."""
    record = fast_record(leaf_bytes, source)
    if record is None:
        judged = judge_record(line.leaf, leaf_bytes, source)
        if isinstance(judged, tuple):
            return QuarantinedLine(line.line_no, *judged, line.raw)
        record = judged
    return VerifiedRecord(
        line.line_no,
        record["record_id"],
        line.height,
        line.leaf_index,
        line.leaf,
        leaf_hash,
        sealed_at,
        record,
    )
