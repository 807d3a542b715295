"""The bank's model-signing key: Ed25519 signatures in the DSSE envelope of
``attestations.dsse`` over the model registry's artifacts and manifest entries.

The key is passed in by the caller (the pipeline reads it from an Airflow connection or an
environment secret at the edge); nothing here reads configuration. A reader that only
loads models may hold the public half alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from attestations.dsse import SigningKey, decode_signature, pae, verify

ALG = "ed25519"
ARTIFACT_PAYLOAD_TYPE = "application/vnd.smecredit.model-artifact+json"
ENTRY_PAYLOAD_TYPE = "application/vnd.smecredit.model-entry+json"


class SigningKeyError(ValueError):
    """The key material cannot be used; the message says why (never the key itself)."""


@dataclass(frozen=True)
class ModelKeys:
    """The model-signing public key, with its private half when this holder may sign."""

    public_key: ed25519.Ed25519PublicKey
    private_key: ed25519.Ed25519PrivateKey | None = None

    @classmethod
    def generate(cls) -> ModelKeys:
        """A fresh key pair (the demo; production generates it once and keeps it secret)."""
        private = ed25519.Ed25519PrivateKey.generate()
        return cls(private.public_key(), private)

    @classmethod
    def from_pem(cls, pem: str | bytes) -> ModelKeys:
        """An Ed25519 key from PEM: a PKCS#8 private key (signs and verifies) or a
        SubjectPublicKeyInfo public key (verifies only).

        Raises:
            SigningKeyError: the text is not an unencrypted Ed25519 key in PEM.
        """
        data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
        try:
            if b"PRIVATE KEY" in data:
                private = serialization.load_pem_private_key(data, password=None)
                if not isinstance(private, ed25519.Ed25519PrivateKey):
                    raise SigningKeyError(f"the model-signing key is a {type(private).__name__}, not Ed25519")
                return cls(private.public_key(), private)
            public = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SigningKeyError(f"the model-signing key is not a usable PEM key ({first[:120]})") from None
        if not isinstance(public, ed25519.Ed25519PublicKey):
            raise SigningKeyError(f"the model-signing public key is a {type(public).__name__}, not Ed25519")
        return cls(public)

    @property
    def keyid(self) -> str:
        """The first 16 hex digits of the SHA-256 of the public key's DER encoding."""
        der = self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()[:16]

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def private_pem(self) -> str:
        """The PKCS#8 PEM of the private half, unencrypted: for a secret store only."""
        if self.private_key is None:
            raise SigningKeyError("this holder has only the public model-signing key")
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")

    @property
    def can_sign(self) -> bool:
        return self.private_key is not None

    def sign(self, payload_type: str, body: bytes) -> str:
        """Standard base64 of the signature over ``PAE(payload_type, body)``."""
        if self.private_key is None:
            raise SigningKeyError("signing needs the private model-signing key; only the public key is held")
        return SigningKey(self.keyid, ALG, self.private_key).sign_b64(payload_type, body)

    def verifies(self, payload_type: str, body: bytes, signature: object) -> bool:
        """True when ``signature`` (base64) is this key's over ``PAE(payload_type, body)``."""
        raw = decode_signature(signature)
        return raw is not None and verify(self.public_key, pae(payload_type, body), raw)
