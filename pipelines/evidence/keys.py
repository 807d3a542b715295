"""The bank's Ed25519 evidence key, which signs every pack's manifest."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pipelines.evidence.select import EvidenceError


def load_signing_key(value: str) -> ed25519.Ed25519PrivateKey:
    """The private key from PEM text (PKCS#8, unencrypted), or from the PEM file ``value``
    names (a mounted secret).

    Raises:
        EvidenceError: no key given, the file is unreadable, or the key is not Ed25519.
    """
    text = value.strip()
    if not text:
        raise EvidenceError(
            "no evidence signing key: set the Airflow connection smecredit_evidence_key (password: "
            "the PEM) or SMECREDIT_EVIDENCE_KEY (the PEM, or a path to it)"
        )
    if not text.startswith("-----BEGIN"):
        try:
            text = Path(text).read_text()
        except OSError as exc:
            raise EvidenceError(f"cannot read the evidence key file {text}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise EvidenceError(f"the evidence key is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise EvidenceError(f"the evidence key is a {type(key).__name__}; packs are signed with Ed25519")
    return key


def new_key_pem() -> str:
    """A fresh Ed25519 private key as PKCS#8 PEM (the demo makes one)."""
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def write_key(path: Path) -> Path:
    """Write a fresh key to ``path`` (mode 0600), and its public half beside it (``.pub.pem``)."""
    pem = new_key_pem()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(pem)
    public = load_signing_key(pem).public_key()
    pub_path = path.with_name(path.stem + ".pub.pem")
    pub_path.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pub_path
