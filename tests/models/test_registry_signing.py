"""Signed models: every artifact and manifest entry carries the bank's Ed25519 signature,
and loading refuses what is unsigned, signed by another key, or rewritten with its entry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from models.registry import Registry, RegistryError
from models.scorecard import Scorecard
from models.signing import ModelKeys, SigningKeyError
from tests.models.test_scorecard import credit_data


@pytest.fixture(scope="module")
def cards() -> tuple[Scorecard, Scorecard]:
    X, y = credit_data(1500)
    return Scorecard().fit(X, y), Scorecard(max_bins=3).fit(X, y)


def _register(reg: Registry, card: Scorecard, status: str = "champion", **metrics: Any) -> dict[str, Any]:
    return reg.register(
        card, family="pre_loan", training_window=("2024-01-01", "2024-06-30"), metrics=metrics, status=status
    )


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "manifest.json").read_text())


def _rewrite(root: Path, doc: dict[str, Any]) -> None:
    (root / "manifest.json").write_text(json.dumps(doc))


def test_entries_are_signed_and_load_with_the_public_key_alone(tmp_path: Path, cards: Any) -> None:
    keys = ModelKeys.generate()
    entry = _register(Registry(str(tmp_path), keys), cards[0], auc=0.7, undefined=float("nan"))
    assert entry["signature"]["keyid"] == keys.keyid and entry["signature"]["alg"] == "ed25519"
    assert entry["metrics"]["undefined"] is None  # NaN is no JSON: an undefined metric is null
    reader = Registry(str(tmp_path), ModelKeys.from_pem(keys.public_pem()))
    assert reader.load().entry["model_id"] == entry["model_id"]
    with pytest.raises(RegistryError, match="needs the bank's private model-signing key to register"):
        _register(reader, cards[1])
    with pytest.raises(RegistryError, match="needs the bank's public model-signing key to load"):
        Registry(str(tmp_path)).load()
    assert Registry(str(tmp_path)).entries()[0]["model_id"] == entry["model_id"]  # listing needs no key


def test_an_artifact_rewritten_with_its_manifest_entry_is_refused(tmp_path: Path, cards: Any) -> None:
    """The reproduced attack: rewrite the artifact and the entry's SHA-256 together."""
    keys = ModelKeys.generate()
    reg = Registry(str(tmp_path), keys)
    entry = _register(reg, cards[0])
    artifact = tmp_path / "artifacts" / f"{entry['model_id']}.json"
    doc = json.loads(artifact.read_text())
    doc["intercept"] += 5.0
    artifact.write_text(json.dumps(doc))
    manifest = _manifest(tmp_path)
    manifest["models"][0]["sha256"] = hashlib.sha256(artifact.read_bytes()).hexdigest()
    _rewrite(tmp_path, manifest)
    with pytest.raises(RegistryError, match="signature that does not verify"):
        reg.load()
    manifest["models"][0]["signature"]["entry"] = keys.sign(
        "application/vnd.smecredit.model-entry+json", b"anything else"
    )
    _rewrite(tmp_path, manifest)
    with pytest.raises(RegistryError, match="signature that does not verify"):
        reg.load()


def test_an_artifact_swapped_for_another_signed_one_is_refused(tmp_path: Path, cards: Any) -> None:
    """Both artifacts are the bank's, but the first entry's signature covers its own bytes."""
    keys = ModelKeys.generate()
    reg = Registry(str(tmp_path), keys)
    a, b = _register(reg, cards[0], status="challenger"), _register(reg, cards[1], status="challenger")
    manifest = _manifest(tmp_path)
    first, second = manifest["models"]
    first["signature"]["artifact"] = second["signature"]["artifact"]
    _rewrite(tmp_path, manifest)
    with pytest.raises(
        RegistryError, match=f"artifact of {a['model_id']} is not signed with key {keys.keyid}"
    ):
        reg.load(a["model_id"])
    assert reg.load(b["model_id"]).entry["model_id"] == b["model_id"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.pop("signature"), "is unsigned"),
        (lambda e: e.update(status="champion", family="pre_loan"), "does not verify"),
        (lambda e: e["metrics"].update(auc=0.99), "does not verify"),
        (lambda e: e["signature"].update(keyid="0123456789abcdef"), "not the bank's model-signing key"),
    ],
)
def test_unsigned_or_altered_entries_are_refused(
    tmp_path: Path, cards: Any, change: Any, message: str
) -> None:
    reg = Registry(str(tmp_path), ModelKeys.generate())
    _register(reg, cards[0], status="challenger", auc=0.7)
    manifest = _manifest(tmp_path)
    change(manifest["models"][0])
    manifest["models"][0]["status"] = manifest["models"][0].get("status", "challenger")
    _rewrite(tmp_path, manifest)
    model_id = manifest["models"][0]["model_id"]
    with pytest.raises(RegistryError, match=message):
        reg.load(model_id)


def test_another_banks_key_is_refused(tmp_path: Path, cards: Any) -> None:
    _register(Registry(str(tmp_path), ModelKeys.generate()), cards[0])
    with pytest.raises(RegistryError, match="not the bank's model-signing key"):
        Registry(str(tmp_path), ModelKeys.generate()).load()


def test_retiring_never_launders_an_unsigned_champion(tmp_path: Path, cards: Any) -> None:
    keys = ModelKeys.generate()
    reg = Registry(str(tmp_path), keys)
    old = _register(reg, cards[0])
    manifest = _manifest(tmp_path)
    del manifest["models"][0]["signature"]
    _rewrite(tmp_path, manifest)
    new = _register(reg, cards[1])
    statuses = {e["model_id"]: (e["status"], "signature" in e) for e in reg.entries()}
    assert statuses == {old["model_id"]: ("retired", False), new["model_id"]: ("champion", True)}
    with pytest.raises(RegistryError, match="is unsigned"):
        reg.load(old["model_id"])
    assert reg.load().entry["model_id"] == new["model_id"]


def test_a_signed_but_retired_entry_is_signed_again_as_retired(tmp_path: Path, cards: Any) -> None:
    reg = Registry(str(tmp_path), ModelKeys.generate())
    old, _ = _register(reg, cards[0]), _register(reg, cards[1])
    assert reg.load(old["model_id"]).entry["status"] == "retired"


def test_manifest_and_artifacts_are_read_strictly(tmp_path: Path, cards: Any) -> None:
    reg = Registry(str(tmp_path), ModelKeys.generate())
    _register(reg, cards[0])
    text = (tmp_path / "manifest.json").read_text()
    (tmp_path / "manifest.json").write_text(
        text.replace('"status": "champion"', '"status": "champion", "status": "retired"')
    )
    with pytest.raises(
        RegistryError, match=r"manifest\.json: line \d+ column \d+ \(\$\.models\[0\]\.status\): repeated"
    ):
        reg.entries()


def test_key_material_errors_name_no_secret() -> None:
    keys = ModelKeys.generate()
    assert ModelKeys.from_pem(keys.private_pem()).keyid == keys.keyid
    with pytest.raises(SigningKeyError, match="not a usable PEM key") as caught:
        ModelKeys.from_pem(keys.private_pem().replace("A", "B", 3)[:-40])
    assert "PRIVATE" not in str(caught.value)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SigningKeyError, match="not Ed25519"):
        ModelKeys.from_pem(p256)
