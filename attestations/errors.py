"""Typed errors. Each verification error maps to one reason code of spec section 6."""

from __future__ import annotations


class AttestationError(Exception):
    """Base of every error this package raises."""


class CanonicalizationError(AttestationError, ValueError):
    """A value cannot be written as RFC 8785 canonical JSON (or parsed strictly)."""


class PolicyError(AttestationError, ValueError):
    """The trust policy is unusable; the verifier stops before reading any bundle."""


class VerificationError(AttestationError):
    """A check failed; ``reason`` is the spec's reason code."""

    reason = "verification_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ManifestInvalid(VerificationError):
    reason = "manifest_invalid"


class ManifestMismatch(VerificationError):
    reason = "manifest_mismatch"


class ChainMismatch(VerificationError):
    reason = "chain_mismatch"


class ForkDetected(VerificationError):
    reason = "fork_detected"


class HeaderInvalid(VerificationError):
    reason = "header_invalid"


class HeaderUntrusted(VerificationError):
    reason = "header_untrusted"


class ChainBroken(VerificationError):
    reason = "chain_broken"


class RecordInvalid(VerificationError):
    reason = "record_invalid"


class FirmIdInvalid(VerificationError):
    reason = "firm_id_invalid"


class RootMismatchError(VerificationError):
    """The computed Merkle root differs from the expected one."""

    reason = "proof_invalid"

    def __init__(self, expected: bytes, calculated: bytes) -> None:
        super().__init__(f"root mismatch: expected {expected.hex()}, calculated {calculated.hex()}")
        self.expected = expected
        self.calculated = calculated
