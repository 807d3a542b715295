"""DSSE v1 pre-authentication encoding and the two signature algorithms of spec section 4."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

HEADER_PAYLOAD_TYPE = "application/vnd.sme-ledger.header+json"
MANIFEST_PAYLOAD_TYPE = "application/vnd.sme-ledger.manifest+json"
SIG_ALGS = ("ed25519", "ecdsa-p256-sha256")

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def pae(payload_type: str, body: bytes) -> bytes:
    """``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``."""
    encoded = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(encoded), encoded, len(body), body)


def load_public_key(pem: object, alg: str) -> PublicKey:
    """Parse a PEM public key and check that it fits ``alg``.

    Raises:
        ValueError: the key does not parse or is not of ``alg``'s type and curve.
    """
    if not isinstance(pem, str):
        raise ValueError("public_key must be a PEM string")
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii", "strict"))
    except UnsupportedAlgorithm as exc:  # e.g. an EC key on a curve this library lacks
        raise ValueError(f"public key of an unsupported algorithm: {exc}") from None
    if alg == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if (
        alg == "ecdsa-p256-sha256"
        and isinstance(key, ec.EllipticCurvePublicKey)
        and isinstance(key.curve, ec.SECP256R1)
    ):
        return key
    raise ValueError(f"public key is a {type(key).__name__}, which does not fit alg {alg!r}")


def decode_signature(sig: object) -> bytes | None:
    """Standard padded base64 to bytes, or None when ``sig`` is not that."""
    if not isinstance(sig, str) or not sig.isascii():
        return None
    try:
        return base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return None


def verify(key: PublicKey, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``key``'s signature over ``message``."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class SigningKey:
    """A private key with the identity the trust policy gives it."""

    keyid: str
    alg: str
    private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls, keyid: str, alg: str = "ed25519") -> SigningKey:
        """Create a fresh key of ``alg``."""
        if alg == "ed25519":
            return cls(keyid, alg, ed25519.Ed25519PrivateKey.generate())
        if alg == "ecdsa-p256-sha256":
            return cls(keyid, alg, ec.generate_private_key(ec.SECP256R1()))
        raise ValueError(f"unknown signature alg {alg!r}; expected one of {SIG_ALGS}")

    @classmethod
    def from_seed(cls, keyid: str, alg: str, seed: bytes) -> SigningKey:
        """Derive a key deterministically from a 32-byte seed (simulations and tests)."""
        if len(seed) != 32:
            raise ValueError(f"seed must be 32 bytes, got {len(seed)}")
        if alg == "ed25519":
            return cls(keyid, alg, ed25519.Ed25519PrivateKey.from_private_bytes(seed))
        if alg == "ecdsa-p256-sha256":
            order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
            scalar = int.from_bytes(seed, "big") % (order - 1) + 1
            return cls(keyid, alg, ec.derive_private_key(scalar, ec.SECP256R1()))
        raise ValueError(f"unknown signature alg {alg!r}; expected one of {SIG_ALGS}")

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (already PAE-encoded); ECDSA uses RFC 6979 deterministic nonces,
        so the same key and message always give the same bytes."""
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            return self.private_key.sign(message)
        return self.private_key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))

    def sign_b64(self, payload_type: str, body: bytes) -> str:
        """Standard base64 of the signature over ``PAE(payload_type, body)``."""
        return base64.b64encode(self.sign(pae(payload_type, body))).decode("ascii")

    def public_pem(self) -> str:
        """The SubjectPublicKeyInfo PEM of the public half."""
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )
