"""Typed errors. Data problems in a bundle are not raised: each becomes a reason code on
its lines (attestations.reasons.Reason); these are for callers' and policy mistakes."""

from __future__ import annotations


class AttestationError(Exception):
    """Base of every error this package raises."""


class CanonicalizationError(AttestationError, ValueError):
    """A value cannot be written as RFC 8785 canonical JSON (or parsed strictly)."""


class PolicyError(AttestationError, ValueError):
    """The trust policy is unusable; the verifier stops before reading any bundle."""


class StateError(AttestationError):
    """The verifier's state file cannot be used (written by a newer version)."""
