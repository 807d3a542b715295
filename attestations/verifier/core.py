"""The bank's verifier: sorts every line of a bundle into verified, duplicate or quarantined.

Spec section 6 decides the outcome of each line, with its precedence (bundle before header
before record, and each table in order); section 8 settles the edge cases. The phases run
in that order: ``manifest``, ``headers``, then the lines (``inclusion``, ``leaves``), and
last the duplicates and conflicts against what the store remembers. Notes on the points the
spec leaves to the reader are in docs/verifier-notes.md.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from attestations.policy import TrustPolicy
from attestations.reasons import Reason
from attestations.verifier.bundle import BundleFiles, split_lines
from attestations.verifier.headers import check_headers, fork, parse_header_line
from attestations.verifier.inclusion import BlockProof, Candidate, LinePhase, block_proof
from attestations.verifier.lines import ProofLine
from attestations.verifier.manifest import chain_mismatch, manifest_problem, mismatch
from attestations.verifier.outcome import BundleResult, QuarantinedLine, VerifierStore


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
        policy = self.policy
        lines = split_lines(files.records) if files.records is not None else []
        manifest, problem = manifest_problem(files, policy)
        bundle_id = manifest.get("bundle_id") if manifest is not None else None
        result = BundleResult(
            name=files.name,
            bundle_id=bundle_id if isinstance(bundle_id, str) else files.name,
            source=manifest.get("source") if manifest is not None and problem is None else None,
            chain_id=policy.chain_id,
            lines=len(lines),
        )
        if problem is not None or manifest is None:
            return _fail_bundle(result, lines, Reason.MANIFEST_INVALID, problem or "")
        raw_headers = split_lines(files.headers) if files.headers is not None else []
        headers = [parse_header_line(i, raw, policy.hash_alg) for i, (_, raw) in enumerate(raw_headers)]
        problem = mismatch(files, manifest, headers, len(lines))
        if problem is not None:
            return _fail_bundle(result, lines, Reason.MANIFEST_MISMATCH, problem)
        problem = chain_mismatch(manifest, headers, policy)
        if problem is not None:
            return _fail_bundle(result, lines, Reason.CHAIN_MISMATCH, problem)
        first, last = manifest["first_height"], manifest["last_height"]
        heights = {h.height for h in headers if h.height is not None} | {first - 1}
        trusted = self.store.trusted_headers(policy.chain_id, heights)
        problem = fork(headers, trusted)
        if problem is not None:
            return _fail_bundle(result, lines, Reason.FORK_DETECTED, problem)
        check_headers(result, headers, first, trusted, policy)
        source = manifest["source"]
        phase = LinePhase(result, headers, first, last, source, policy.hash_alg, self._audit_paths)
        candidates = phase.run(lines)
        self._dedupe(result, candidates)
        result.quarantined.sort(key=lambda q: q.line_no)
        return result

    def _audit_paths(self, header: dict[str, Any], items: list[ProofLine]) -> BlockProof | None:
        """The whole-block proof (``inclusion.block_proof``); a seam where tests turn that path
        off to check that the reference path decides every line alike."""
        return block_proof(header, items, self.policy.hash_alg)

    def _dedupe(self, result: BundleResult, candidates: Sequence[Candidate]) -> None:
        """Proven lines in line order: the first proof of a record verifies it, a repeat of
        the same leaf is a duplicate, other leaf bytes are ``conflicting_record``."""
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
                detail = f"record_id {rec.record_id!r} was verified with other leaf bytes"
                result.quarantined.append(QuarantinedLine(line_no, Reason.CONFLICTING_RECORD, detail, raw))


def _fail_bundle(
    result: BundleResult, lines: list[tuple[int, bytes]], reason: Reason, detail: str
) -> BundleResult:
    """Every line quarantined with the bundle's failure."""
    result.bundle_failure = (reason, detail)
    result.quarantined = [QuarantinedLine(n, reason, detail, raw) for n, raw in lines]
    return result
