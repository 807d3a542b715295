"""The reason codes of spec section 6: why a line is quarantined, in order of precedence."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """A quarantine reason code. Members are strings (``Reason.PROOF_INVALID == "proof_invalid"``),
    so they are written to tables and JSON as the spec's codes; declared in the spec's order of
    precedence: bundle, then header, then record."""

    # Bundle: every line of the bundle.
    MANIFEST_INVALID = "manifest_invalid"
    MANIFEST_MISMATCH = "manifest_mismatch"
    CHAIN_MISMATCH = "chain_mismatch"
    FORK_DETECTED = "fork_detected"
    # Header: that block and every later one.
    HEADER_INVALID = "header_invalid"
    HEADER_UNTRUSTED = "header_untrusted"
    CHAIN_BROKEN = "chain_broken"
    # Record: one line.
    LINE_INVALID = "line_invalid"
    UNKNOWN_BLOCK = "unknown_block"
    INDEX_OUT_OF_RANGE = "index_out_of_range"
    PROOF_INVALID = "proof_invalid"
    RECORD_INVALID = "record_invalid"
    FIRM_ID_INVALID = "firm_id_invalid"
    NON_CANONICAL = "non_canonical"
    CONFLICTING_RECORD = "conflicting_record"


REASONS: tuple[Reason, ...] = tuple(Reason)
"""Every reason code, in the spec's order of precedence."""
