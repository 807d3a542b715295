"""The bank's model-signing key, built from Settings at the edge and passed to the model
registry (``models.registry.Registry``), which reads no configuration itself.

``SMECREDIT_MODEL_SIGNING_KEY`` (or the Airflow connection ``smecredit_model_signing``)
holds either the PEM text of an Ed25519 key or the path of a PEM file: the PKCS#8 private
key where models are registered (training), or only the public key where they are loaded
(scoring, monitoring). Generate one with ``openssl genpkey -algorithm ed25519``.
"""

from __future__ import annotations

from pathlib import Path

from models.signing import ModelKeys, SigningKeyError
from pipelines.config import ENV_MODEL_KEY, Settings


def model_keys(settings: Settings) -> ModelKeys | None:
    """The key of ``settings``, or None when none is configured (the registry then refuses
    to register or load, naming the missing key).

    Raises:
        SigningKeyError: the configured value is neither a usable PEM key nor a readable
            PEM file (the message never holds the key).
    """
    value = settings.model_signing_key.strip()
    if not value:
        return None
    if value.startswith("-----BEGIN"):
        return ModelKeys.from_pem(value)
    try:
        pem = Path(value).read_bytes()
    except OSError as exc:
        raise SigningKeyError(
            f"{ENV_MODEL_KEY} is neither PEM text nor a readable file: {exc.strerror or exc}"
        ) from None
    return ModelKeys.from_pem(pem)
