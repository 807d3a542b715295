"""The hash functions of spec section 1, by their ``hash_alg`` names."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes

HASH_ALGS = ("sha256", "sm3")
DIGEST_SIZE = 32

HashFn = Callable[[bytes], bytes]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _sm3_cryptography(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def _pick_sm3() -> HashFn:
    # hashlib is several times faster on small inputs, but only where OpenSSL ships SM3.
    try:
        hashlib.new("sm3", b"")
    except ValueError:
        return _sm3_cryptography

    def _sm3_hashlib(data: bytes) -> bytes:
        return hashlib.new("sm3", data).digest()

    return _sm3_hashlib


_FUNCTIONS: dict[str, HashFn] = {"sha256": _sha256, "sm3": _pick_sm3()}


def hash_function(hash_alg: str) -> HashFn:
    """Return the function ``bytes -> 32-byte digest`` named by ``hash_alg``.

    Raises:
        ValueError: ``hash_alg`` is not ``sha256`` or ``sm3``.
    """
    try:
        return _FUNCTIONS[hash_alg]
    except (KeyError, TypeError):
        raise ValueError(f"unknown hash_alg {hash_alg!r}; expected one of {HASH_ALGS}") from None


def _new_hasher(hash_alg: str) -> Any:
    """An incremental hasher (``update``; ``digest`` or ``finalize``) named by ``hash_alg``."""
    if hash_alg == "sha256":
        return hashlib.sha256()
    if _FUNCTIONS["sm3"] is not _sm3_cryptography:
        return hashlib.new("sm3")
    return hashes.Hash(hashes.SM3())


def leaf_hash_of_text(text: str, hash_alg: str, piece: int = 1 << 20) -> bytes:
    """``H(0x00 || text.encode("utf-8", "surrogatepass"))``, encoding ``piece`` characters at
    a time: a huge leaf costs no copy of its bytes (each code point encodes on its own, so
    the pieces' bytes are the whole text's bytes)."""
    hasher = _new_hasher(hash_alg)
    hasher.update(b"\x00")
    for start in range(0, len(text), piece):
        hasher.update(text[start : start + piece].encode("utf-8", "surrogatepass"))
    return bytes(hasher.digest() if hasattr(hasher, "digest") else hasher.finalize())


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256, as used for manifest file digests whatever the chain's hash."""
    return hashlib.sha256(data).hexdigest()
