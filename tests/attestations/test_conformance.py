"""Conformance with public test vectors (RFC 9162 inclusion and roots, RFC 8785)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from attestations.canonical import canonicalize, is_canonical
from attestations.merkle import (
    BlockInclusionVerifier,
    MerkleTree,
    inclusion_proof,
    root_hash,
    verify_inclusion,
)


def _inclusion_cases(vectors: Path) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    folder = vectors / "rfc9162-inclusion"
    return [(str(p.relative_to(folder)), json.loads(p.read_text())) for p in sorted(folder.rglob("*.json"))]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def test_rfc9162_inclusion_vectors(vectors: Path) -> None:
    cases = _inclusion_cases(vectors)
    assert len(cases) > 40, "expected the full transparency-dev inclusion suite"
    wrong = []
    for name, case in cases:
        args = (
            _b64(case["leafHash"]),
            case["leafIdx"],
            case["treeSize"],
            [_b64(p) for p in case["proof"] or []],
            _b64(case["root"]),
        )
        if verify_inclusion(*args) == case["wantErr"]:
            wrong.append(f"{name}: {case['desc']}")
        # The memoised block verifier must give the same answer, even after a success.
        if case["treeSize"] > 0:
            block = BlockInclusionVerifier(args[4], args[2])
            if block.verify(args[0], args[1], args[3]) == case["wantErr"]:
                wrong.append(f"{name} (block verifier): {case['desc']}")
    assert wrong == []


def test_rfc9162_reference_roots(vectors: Path) -> None:
    ref = json.loads((vectors / "rfc9162-roots.json").read_text())
    leaves = [bytes.fromhex(h) for h in ref["leaf_inputs_hex"]]
    for n, want in ref["root_by_size_hex"].items():
        assert root_hash(leaves[: int(n)]).hex() == want, f"root of the first {n} leaves"


def test_every_proof_of_the_reference_tree_verifies(vectors: Path) -> None:
    ref = json.loads((vectors / "rfc9162-roots.json").read_text())
    leaves = [bytes.fromhex(h) for h in ref["leaf_inputs_hex"]]
    for n in range(1, len(leaves) + 1):
        tree = MerkleTree(leaves[:n])
        for i in range(n):
            assert verify_inclusion(tree.leaf_hash(i), i, n, tree.proof(i), tree.root)


@pytest.mark.parametrize("name", ["arrays", "french", "structures", "unicode", "values", "weird"])
def test_rfc8785_vectors(vectors: Path, name: str) -> None:
    folder = vectors / "rfc8785"
    value = json.loads((folder / "input" / f"{name}.json").read_text(encoding="utf-8"))
    expected = (folder / "output" / f"{name}.json").read_bytes()
    hex_expected = bytes.fromhex("".join((folder / "outhex" / f"{name}.txt").read_text().split()))
    assert canonicalize(value) == expected == hex_expected
    assert is_canonical(expected.decode("utf-8"))


def _reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH by its recursive definition, to check the level-by-level tree."""
    import hashlib

    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _reference_mth(leaves[:k]) + _reference_mth(leaves[k:])).digest()


def _reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_reference_path(m, leaves[:k]), _reference_mth(leaves[k:])]
    return [*_reference_path(m - k, leaves[k:]), _reference_mth(leaves[:k])]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 33])
def test_tree_matches_the_recursive_definition(n: int) -> None:
    leaves = [bytes([i]) * (i % 4) for i in range(n)]
    assert root_hash(leaves) == _reference_mth(leaves)
    for m in range(n):
        assert inclusion_proof(m, leaves) == _reference_path(m, leaves)
