"""The bank's verifier of ``sme-ledger-export/1`` bundles, one module per phase: ``bundle``
(the files), ``manifest``, ``headers``, ``lines`` (the line parser), ``inclusion`` (proofs),
``leaves`` (record checks), ``outcome`` (results) and ``core`` (the ``Verifier``)."""

from attestations.reasons import REASONS, Reason
from attestations.verifier.bundle import BUNDLE_FILES, BundleFiles, split_lines
from attestations.verifier.core import Verifier, paused_gc
from attestations.verifier.headers import HEADER_MEMBERS, ZERO_HASH
from attestations.verifier.leaves import fast_record as _fast_record
from attestations.verifier.leaves import judge_record as _judge_record
from attestations.verifier.lines import ProofLine, parse_line
from attestations.verifier.manifest import MANIFEST_INTEGERS, MANIFEST_STRINGS
from attestations.verifier.outcome import BundleResult, QuarantinedLine, VerifiedRecord, VerifierStore

__all__ = [
    "BUNDLE_FILES",
    "HEADER_MEMBERS",
    "MANIFEST_INTEGERS",
    "MANIFEST_STRINGS",
    "REASONS",
    "ZERO_HASH",
    "BundleFiles",
    "BundleResult",
    "ProofLine",
    "QuarantinedLine",
    "Reason",
    "VerifiedRecord",
    "Verifier",
    "VerifierStore",
    "_fast_record",
    "_judge_record",
    "parse_line",
    "paused_gc",
    "split_lines",
]
