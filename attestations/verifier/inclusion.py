"""The record phase: every line's outcome by the spec's order of precedence (``unknown_block``,
``index_out_of_range``, ``proof_invalid``, then the record checks of ``leaves``).

Two paths decide the same outcomes. The whole-block path takes the lines of a trusted block
whose index is in range, and holds every leaf of the block once: the block's tree is rebuilt
from those leaves, and when its root is the header's, a line whose proof equals its leaf's
audit path is proven (see ``hex_audit_paths``). Every other line, and every line of a block
whose leaves do not rebuild its root, goes the reference path (``_judge``), one proof at a
time, which decides each reason code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from attestations.hashing import hash_function, leaf_hash_of_text
from attestations.merkle import BlockInclusionVerifier, hex_audit_paths
from attestations.reasons import Reason
from attestations.verifier.headers import ParsedHeader
from attestations.verifier.leaves import proven_record
from attestations.verifier.lines import ProofLine, entries_invalid, parse_line
from attestations.verifier.outcome import BundleResult, QuarantinedLine, VerifiedRecord

_LEN_64 = {64}
_LINE_NO = attrgetter("line_no")
_WHOLE = 1 << 20  # characters: a longer leaf is hashed in pieces

Candidate = VerifiedRecord
"""A proven line, before duplicates and conflicts are judged. Its raw bytes are not kept:
a whole bundle's lines would stay in memory for the few that turn out to conflict, which
``Verifier`` reads again (``core.raw_lines``)."""
BlockProof = tuple[list[list[str]], list[bytes], list[bytes]]
"""Every audit path of a block as hex, every leaf hash and every leaf's bytes, by index."""


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


def block_proof(header: dict[str, Any], items: list[ProofLine], hash_alg: str) -> BlockProof | None:
    """Every audit path of the block as hex, every leaf hash and every leaf's bytes, by
    index, when ``items`` hold each of its leaves exactly once and those leaves rebuild
    the header's root; else None."""
    size = header["tree_size"]
    if len(items) != size:
        return None
    by_index: list[str | None] = [None] * size
    for item in items:
        by_index[item.leaf_index] = item.leaf
    if None in by_index:
        return None
    leaf_bytes = [leaf.encode("utf-8", "surrogatepass") for leaf in by_index]  # type: ignore[union-attr]
    h = hash_function(hash_alg)
    hashes = [h(b"\x00" + data) for data in leaf_bytes]
    root, paths = hex_audit_paths(hashes, hash_alg)
    return (paths, hashes, leaf_bytes) if root.hex() == header["root_hash"] else None


class LinePhase:
    """Judges the lines of one bundle whose manifest holds, against its parsed headers and
    ``result.header_failure``; quarantined lines go to ``result.quarantined``. ``block_proof``
    is the whole-block proof (``block_proof`` above, with the bundle's hash algorithm)."""

    def __init__(
        self,
        result: BundleResult,
        headers: list[ParsedHeader],
        first: int,
        last: int,
        source: str,
        hash_alg: str,
        block_proof: Callable[[dict[str, Any], list[ProofLine]], BlockProof | None],
    ) -> None:
        self.result = result
        self._block_proof = block_proof
        self.headers = headers
        self.first, self.last, self.source, self.hash_alg = first, last, source, hash_alg
        self._hash = hash_function(hash_alg)
        self.fail_at, reason, detail = result.header_failure or (last + 1, "", "")
        self.failure = (reason, detail)
        self.blocks: dict[int, BlockInclusionVerifier] = {}
        self.candidates: list[Candidate] = []
        self.slow: list[ProofLine] = []

    def run(self, lines: Iterable[tuple[int, bytes]]) -> list[Candidate]:
        """Judge ``lines``; return the proven ones in line order."""
        first, fail_at, headers = self.first, self.fail_at, self.headers
        # Trusted headers are valid and sit at consecutive heights from ``first``.
        sizes = [h.header["tree_size"] if h.header else 0 for h in headers[: max(0, fail_at - first)]]
        by_block: dict[int, list[ProofLine]] = {}
        quarantine, slow = self.result.quarantined.append, self.slow.append
        for line_no, raw in lines:
            line = parse_line(line_no, raw)
            if type(line) is not ProofLine:
                quarantine(line)  # type: ignore[arg-type]
                continue
            height = line.height
            if first <= height < fail_at and 0 <= line.leaf_index < sizes[height - first]:
                bucket = by_block.setdefault(height, [])
                bucket.append(line)
                if len(bucket) == sizes[height - first]:
                    # A block is judged as soon as it can be complete, so that the parsed
                    # proofs of a large bundle are not all held at once.
                    self._prove_block(headers[height - first], by_block.pop(height))
            else:
                slow(line)
        for height, items in by_block.items():
            self._prove_block(headers[height - first], items)
        for line in self.slow:
            outcome = self._judge(line)
            if type(outcome) is VerifiedRecord:
                self.candidates.append(outcome)
            else:
                quarantine(outcome)  # type: ignore[arg-type]
        # Duplicates and conflicts are judged in line order, whichever path proved a line.
        self.candidates.sort(key=_LINE_NO)
        return self.candidates

    def _prove_block(self, parsed: ParsedHeader, items: list[ProofLine]) -> None:
        """The whole-block path for the well-formed lines of one trusted block: proven lines
        go on to the record checks, the others to the reference path."""
        header = parsed.header
        assert header is not None
        proven = self._block_proof(header, items)
        if proven is None:
            self.slow.extend(items)
            return
        expected, leaf_hashes, leaf_bytes = proven
        sealed_at, source = header["sealed_at"], self.source
        quarantine, candidate = self.result.quarantined.append, self.candidates.append
        for line in items:
            index = line.leaf_index
            if line.proof != expected[index]:
                self.slow.append(line)
                continue
            outcome = proven_record(line, leaf_bytes[index], leaf_hashes[index], sealed_at, source)
            if type(outcome) is VerifiedRecord:
                candidate(outcome)
            else:
                quarantine(outcome)  # type: ignore[arg-type]

    def _judge(self, line: ProofLine) -> VerifiedRecord | QuarantinedLine:
        """The reference path: one line's outcome, its proof walked on its own."""
        line_no, raw, height, index, leaf, proof = line
        invalid = entries_invalid(line)
        if invalid is not None:
            return invalid
        if not self.first <= height <= self.last:
            detail = f"height {height} is outside {self.first}..{self.last}"
            return QuarantinedLine(line_no, Reason.UNKNOWN_BLOCK, detail, raw)
        if height >= self.fail_at:  # a well-formed line in or after the failed block
            return QuarantinedLine(line_no, *self.failure, raw)
        header = self.headers[height - self.first].header
        assert header is not None
        size = header["tree_size"]
        if not 0 <= index < size:
            detail = f"index {index} outside block {height} of {size}"
            return QuarantinedLine(line_no, Reason.INDEX_OUT_OF_RANGE, detail, raw)
        packed = _unhex_proof(proof)
        if packed is None:
            detail = "a proof entry is not 64 lowercase hex characters"
            return QuarantinedLine(line_no, Reason.PROOF_INVALID, detail, raw)
        # A huge leaf is hashed piece by piece, and its bytes made only once its proof holds.
        leaf_bytes = leaf.encode("utf-8", "surrogatepass") if len(leaf) <= _WHOLE else None
        if leaf_bytes is None:
            lh = leaf_hash_of_text(leaf, self.hash_alg)
        else:
            lh = self._hash(b"\x00" + leaf_bytes)
        block = self.blocks.get(height)
        if block is None:
            block = BlockInclusionVerifier(bytes.fromhex(header["root_hash"]), size, self.hash_alg)
            self.blocks[height] = block
        # Shapes hold by construction: 32-byte slices, a 32-byte digest, index checked above.
        path = tuple([packed[i : i + 32] for i in range(0, len(packed), 32)])
        if not block.verify_unchecked(lh, index, path):
            detail = f"audit path of index {index} does not lead to the root of block {height}"
            return QuarantinedLine(line_no, Reason.PROOF_INVALID, detail, raw)
        if leaf_bytes is None:
            leaf_bytes = leaf.encode("utf-8", "surrogatepass")
        return proven_record(line, leaf_bytes, lh, header["sealed_at"], self.source)
