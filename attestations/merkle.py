"""RFC 9162 section 2.1 Merkle trees: tree hashes, audit paths and their verification."""

from __future__ import annotations

from collections.abc import Sequence

from attestations.hashing import DIGEST_SIZE, HashFn, hash_function

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes, hash_alg: str = "sha256") -> bytes:
    """``H(0x00 || data)``: the hash of one leaf's data."""
    return hash_function(hash_alg)(_LEAF + data)


def _levels(hashes: list[bytes], h: HashFn) -> list[list[bytes]]:
    # Pairing each level left to right and carrying a lone last node up unchanged builds
    # exactly the RFC 9162 tree (left subtree a perfect tree of the largest power of two).
    levels = [hashes]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [h(_NODE + cur[i] + cur[i + 1]) for i in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


class MerkleTree:
    """An RFC 9162 tree over leaf data, built once so that every audit path is cheap."""

    def __init__(self, leaves: Sequence[bytes], hash_alg: str = "sha256") -> None:
        h = hash_function(hash_alg)
        self.hash_alg = hash_alg
        self.size = len(leaves)
        self._levels = _levels([h(_LEAF + leaf) for leaf in leaves], h) if leaves else [[]]
        self.root = self._levels[-1][0] if leaves else h(b"")

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        return self._levels[0][index]

    def proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index``, nearest sibling first (RFC 9162 2.1.3.1)."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is outside a tree of {self.size} leaves")
        path = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path


def hex_audit_paths(leaf_hashes: Sequence[bytes], hash_alg: str = "sha256") -> tuple[bytes, list[list[str]]]:
    """The root of the tree over ``leaf_hashes`` (in index order, at least one) and the audit
    path of every leaf, each entry as 64 lower-case hex digits, indexed by leaf.

    For a verifier holding every leaf of a block: once the root agrees, a proof is valid
    exactly when it equals the leaf's audit path (a different path reaching the same root
    would be a hash collision), so each proof costs one list comparison instead of a walk.
    The lists of leaves that share an ancestor share their tails; do not mutate them.
    """
    levels = _levels(list(leaf_hashes), hash_function(hash_alg))
    paths: list[list[str]] = [[]]
    for level in reversed(levels[:-1]):
        hexed = [node.hex() for node in level]
        n = len(level)
        # Node j's path is its sibling (when it has one: a lone last node is carried up
        # unchanged) followed by its parent's path.
        paths = [[hexed[j ^ 1], *paths[j >> 1]] if j ^ 1 < n else paths[j >> 1] for j in range(n)]
    return levels[-1][0], paths


def root_hash(leaves: Sequence[bytes], hash_alg: str = "sha256") -> bytes:
    """RFC 9162 ``MTH`` over leaf data (not leaf hashes); ``H()`` for no leaves."""
    return MerkleTree(leaves, hash_alg).root


def inclusion_proof(index: int, leaves: Sequence[bytes], hash_alg: str = "sha256") -> list[bytes]:
    """The RFC 9162 audit path of leaf ``index`` among ``leaves`` (leaf data)."""
    return MerkleTree(leaves, hash_alg).proof(index)


_ONLY_DIGEST_SIZE = {DIGEST_SIZE}
_BYTES_ONLY = {bytes}


def _valid_shapes(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bool:
    if type(index) is not int or type(tree_size) is not int or not 0 <= index < tree_size:
        return False
    if not isinstance(leaf, bytes) or len(leaf) != DIGEST_SIZE:
        return False
    if not set(map(type, proof)) <= _BYTES_ONLY:
        return False
    return not proof or set(map(len, proof)) == _ONLY_DIGEST_SIZE


def verify_inclusion(
    leaf_hash: bytes,
    index: int,
    tree_size: int,
    proof: Sequence[bytes],
    root: bytes,
    hash_alg: str = "sha256",
) -> bool:
    """Verify an audit path exactly as RFC 9162 section 2.1.3.2 says.

    Both end checks hold: the computed root equals ``root`` and the size counter ends at 0.
    A hash that is not 32 bytes long never verifies.
    """
    if type(tree_size) is not int or tree_size < 1:
        return False
    # With nothing remembered, the block verifier performs exactly the RFC walk.
    return BlockInclusionVerifier(root, tree_size, hash_alg).verify(leaf_hash, index, proof)


class BlockInclusionVerifier:
    """Verifies many audit paths against one block's root, with the answers of
    ``verify_inclusion`` but far fewer hashes.

    The rest of an RFC 9162 walk is a pure function of its state: the position
    ``(fn, sn)``, the running hash ``r`` and the proof entries still to consume. Every state
    of a walk that reached the root is remembered; a later walk that arrives at a remembered
    state with the same hash and the same remaining entries would repeat the same
    computation, so it succeeds without hashing further. A block's proofs then cost about
    two hashes each instead of ``log2(tree_size)``.
    """

    def __init__(self, root: bytes, tree_size: int, hash_alg: str = "sha256") -> None:
        self.root = root
        self.tree_size = tree_size
        self._h = hash_function(hash_alg)
        self._proven: dict[tuple[int, int], tuple[bytes, tuple[bytes, ...], int]] = {}

    def verify(self, leaf_hash: bytes, index: int, proof: Sequence[bytes]) -> bool:
        """True when ``proof`` leads ``leaf_hash`` at ``index`` to the block's root."""
        if not _valid_shapes(leaf_hash, index, self.tree_size, proof) or len(self.root) != DIGEST_SIZE:
            return False
        return self.verify_unchecked(leaf_hash, index, tuple(proof))

    def verify_unchecked(self, leaf_hash: bytes, index: int, path: tuple[bytes, ...]) -> bool:
        """``verify`` for a caller that guarantees the shapes: a 32-byte root, leaf hash and
        entries, and ``0 <= index < tree_size``. The verifier's hot path."""
        h, proven = self._h, self._proven
        fn, sn, r = index, self.tree_size - 1, leaf_hash
        trail: list[tuple[int, int, bytes, int]] = []
        ok = False
        for i, p in enumerate(path):
            seen = proven.get((fn, sn))
            if seen is not None and seen[0] == r and seen[1][seen[2] :] == path[i:]:
                ok = True
                break
            trail.append((fn, sn, r, i))
            if sn == 0:
                return False
            if fn & 1 or fn == sn:
                r = h(_NODE + p + r)
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
            else:
                r = h(_NODE + r + p)
            fn >>= 1
            sn >>= 1
        else:
            ok = sn == 0 and r == self.root
        if ok:
            for fn_, sn_, r_, i_ in trail:
                proven[(fn_, sn_)] = (r_, path, i_)
        return ok
