"""The bank's verifier: sorts every line of a bundle into verified, duplicate or quarantined.

Spec section 6 decides the outcome of each line, with its precedence (bundle before header
before record, and each table in order); section 8 settles the edge cases. The phases run
in that order: ``manifest``, ``headers``, then the lines (``inclusion``, ``leaves``), and
last the duplicates and conflicts against what the store remembers. Notes on the points the
spec leaves to the reader are in docs/verifier-notes.md.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from attestations.policy import TrustPolicy
from attestations.reasons import Reason
from attestations.verifier.bundle import BundleFiles
from attestations.verifier.headers import ParsedHeader, check_headers, fork, parse_header_line
from attestations.verifier.inclusion import BlockProof, Candidate, LinePhase, block_proof
from attestations.verifier.lines import ProofLine
from attestations.verifier.manifest import (
    chain_mismatch,
    files_mismatch,
    manifest_problem,
    range_mismatch,
    records_mismatch,
)
from attestations.verifier.outcome import BundleResult, QuarantinedLine, VerifierStore

CHANGED = "records.jsonl changed while it was verified"


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
        manifest, problem = manifest_problem(files, policy)
        bundle_id = manifest.get("bundle_id") if manifest is not None else None
        result = BundleResult(
            name=files.name,
            bundle_id=bundle_id if isinstance(bundle_id, str) else files.name,
            source=manifest.get("source") if manifest is not None and problem is None else None,
            chain_id=policy.chain_id,
            lines=0,
        )
        if problem is not None or manifest is None:
            return _fail_bundle(result, files, Reason.MANIFEST_INVALID, problem or "")
        stream = files.lines("headers.jsonl")
        headers = [parse_header_line(i, raw, policy.hash_alg) for i, (_, raw) in enumerate(stream)]
        problem = files_mismatch(files, stream, manifest)
        if problem is not None:
            return _fail_bundle(result, files, Reason.MANIFEST_MISMATCH, problem)
        records = files.lines("records.jsonl")
        failure, trusted = self._bundle_failure(manifest, headers)
        if failure is not None:
            # Every line takes the bundle's reason, unless records.jsonl itself mismatches,
            # which comes first (spec section 6); the lines are held to be quarantined.
            lines = list(records)
            problem = records_mismatch(records, manifest)
            reason, detail = (Reason.MANIFEST_MISMATCH, problem) if problem is not None else failure
            return _quarantine_all(result, lines, reason, detail)
        first, last = manifest["first_height"], manifest["last_height"]
        check_headers(result, headers, first, trusted, policy)
        source, alg = manifest["source"], policy.hash_alg
        phase = LinePhase(result, headers, first, last, source, alg, self._audit_paths)
        candidates = phase.run(records)
        problem = records_mismatch(records, manifest)
        if problem is not None:
            # Known only once every line was read: what was judged is dropped, and the
            # lines are read again to be quarantined.
            fresh = BundleResult(result.name, result.bundle_id, result.source, result.chain_id, 0)
            return _fail_bundle(fresh, files, Reason.MANIFEST_MISMATCH, problem)
        result.lines = records.lines
        conflicts = self._dedupe(result, candidates)
        if conflicts:
            raws = raw_lines(files, {line_no for line_no, _ in conflicts}, records.hexdigest())
            if raws is None:
                fresh = BundleResult(result.name, result.bundle_id, result.source, result.chain_id, 0)
                return _fail_bundle(fresh, files, Reason.MANIFEST_MISMATCH, CHANGED)
            reason = Reason.CONFLICTING_RECORD
            result.quarantined.extend(QuarantinedLine(n, reason, detail, raws[n]) for n, detail in conflicts)
        result.quarantined.sort(key=lambda q: q.line_no)
        return result

    def _bundle_failure(
        self, manifest: dict[str, Any], headers: list[ParsedHeader]
    ) -> tuple[tuple[Reason, str] | None, dict[int, bytes]]:
        """The bundle-level failure its headers show (the height range, ``chain_mismatch``,
        ``fork_detected``, in that order), and the trusted header hashes it touches."""
        policy = self.policy
        problem = range_mismatch(manifest, headers)
        if problem is not None:
            return (Reason.MANIFEST_MISMATCH, problem), {}
        problem = chain_mismatch(manifest, headers, policy)
        if problem is not None:
            return (Reason.CHAIN_MISMATCH, problem), {}
        heights = {h.height for h in headers if h.height is not None} | {manifest["first_height"] - 1}
        trusted = self.store.trusted_headers(policy.chain_id, heights)
        problem = fork(headers, trusted)
        return ((Reason.FORK_DETECTED, problem) if problem is not None else None), trusted

    def _audit_paths(self, header: dict[str, Any], items: list[ProofLine]) -> BlockProof | None:
        """The whole-block proof (``inclusion.block_proof``); a seam where tests turn that path
        off to check that the reference path decides every line alike."""
        return block_proof(header, items, self.policy.hash_alg)

    def _dedupe(self, result: BundleResult, candidates: Sequence[Candidate]) -> list[tuple[int, str]]:
        """Proven lines in line order: the first proof of a record verifies it, a repeat of
        the same leaf is a duplicate, other leaf bytes are ``conflicting_record``. Returns
        the conflicting lines (line number and detail), to be quarantined with their bytes."""
        known = self.store.known_records(self.policy.chain_id, {c.record_id for c in candidates})
        verified, duplicate = result.verified.append, result.duplicate_lines.append
        conflicts: list[tuple[int, str]] = []
        for rec in candidates:
            seen = known.get(rec.record_id)
            if seen is None:
                known[rec.record_id] = rec.leaf_hash
                verified(rec)
            elif seen == rec.leaf_hash:
                duplicate(rec.line_no)
            else:
                detail = f"record_id {rec.record_id!r} was verified with other leaf bytes"
                conflicts.append((rec.line_no, detail))
        return conflicts


def raw_lines(files: BundleFiles, wanted: Collection[int], digest: str) -> dict[int, bytes] | None:
    """The bytes of lines ``wanted`` of records.jsonl, read again; None when the file no
    longer hashes to ``digest``, the SHA-256 of the bytes that were judged."""
    stream = files.lines("records.jsonl")
    found = {line_no: raw for line_no, raw in stream if line_no in wanted}
    return found if stream.readable and stream.hexdigest() == digest else None


def _quarantine_all(
    result: BundleResult, lines: list[tuple[int, bytes]], reason: Reason, detail: str
) -> BundleResult:
    """Every line quarantined with the bundle's failure."""
    result.bundle_failure = (reason, detail)
    result.lines = len(lines)
    result.quarantined = [QuarantinedLine(n, reason, detail, raw) for n, raw in lines]
    return result


def _fail_bundle(result: BundleResult, files: BundleFiles, reason: Reason, detail: str) -> BundleResult:
    """Every line of records.jsonl, read now, quarantined with the bundle's failure."""
    return _quarantine_all(result, list(files.lines("records.jsonl")), reason, detail)
