"""Where the model-signing key comes from: an environment secret (PEM text or a file) or
the Airflow connection ``smecredit_model_signing``, which wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.signing import ModelKeys, SigningKeyError
from pipelines.airflow_edge import settings
from pipelines.config import Settings
from pipelines.model_keys import model_keys


def test_the_key_is_pem_text_or_a_file_and_errors_hold_no_secret(tmp_path: Path) -> None:
    keys = ModelKeys.generate()
    assert model_keys(Settings("", "", "", model_signing_key="")) is None
    assert model_keys(Settings("", "", "", model_signing_key=keys.private_pem())).keyid == keys.keyid  # type: ignore[union-attr]
    path = tmp_path / "model-signing.pem"
    path.write_text(keys.public_pem())
    public = model_keys(Settings("", "", "", model_signing_key=str(path)))
    assert public is not None and public.keyid == keys.keyid and not public.can_sign
    with pytest.raises(SigningKeyError, match="neither PEM text nor a readable file") as caught:
        model_keys(Settings("", "", "", model_signing_key="MC4CAQAwBQYDK2VwBCIEIP"))
    assert "MC4CAQ" not in str(caught.value)
    assert "model_signing_key" not in repr(Settings("", "", "", model_signing_key=keys.private_pem()))


def test_the_airflow_connection_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env_keys, conn_keys = ModelKeys.generate(), ModelKeys.generate()
    monkeypatch.setenv("SMECREDIT_MODEL_SIGNING_KEY", env_keys.private_pem())
    monkeypatch.delenv("AIRFLOW_CONN_SMECREDIT_MODEL_SIGNING", raising=False)
    assert model_keys(settings()).keyid == env_keys.keyid  # type: ignore[union-attr]
    conn = {"conn_type": "generic", "password": conn_keys.private_pem()}
    monkeypatch.setenv("AIRFLOW_CONN_SMECREDIT_MODEL_SIGNING", json.dumps(conn))
    assert model_keys(settings()).keyid == conn_keys.keyid  # type: ignore[union-attr]
