"""The model registry: model artifacts as JSON files beside a manifest of their SHA-256.

Layout under the registry root (a path or fsspec URI)::

    manifest.json               {"models": [entry, ...]}, newest last
    artifacts/<model_id>.json   the model's own JSON (Scorecard.to_json, Challenger.to_json)
    reports/<model_id>.html     its validation report

An entry: ``model_id, kind, family, sha256, created_at, training_window {from, to},
metrics {...}, status`` (``champion``, ``challenger`` or ``retired``) and ``signature``
``{keyid, alg, artifact, entry}``; one champion per family.

Every artifact and every entry is signed with the bank's model-signing key
(``models.signing``: Ed25519 in the DSSE envelope): ``artifact`` over the artifact's bytes,
``entry`` over the RFC 8785 form of the entry without its ``signature``, so the hash, the
status and the metrics are covered too. Loading checks, in order, the entry's signature, the
artifact's SHA-256 and the artifact's signature, and refuses with ``RegistryError`` an
unsigned entry, one signed by another key, or an artifact rewritten together with its entry.
Manifest and artifacts are read with the strict JSON reader (``attestations.strict_json``).
Nothing is unpickled. Writers must not run concurrently (the training DAG allows one
active run).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec

from attestations import strict_json
from attestations.canonical import canonicalize
from attestations.errors import CanonicalizationError
from models.challenger import Challenger
from models.scorecard import Scorecard
from models.signing import ALG, ARTIFACT_PAYLOAD_TYPE, ENTRY_PAYLOAD_TYPE, ModelKeys

KINDS: dict[str, Any] = {"scorecard": Scorecard, "challenger": Challenger}
STATUSES = ("champion", "challenger", "retired")
ENTRY_STRINGS = ("model_id", "kind", "family", "sha256", "status")

log = logging.getLogger(__name__)


class RegistryError(Exception):
    """The registry or one of its artifacts cannot be used; the message says why."""


@dataclass(frozen=True)
class Loaded:
    model: Any
    entry: dict[str, Any]


def identify(model: Any, family: str) -> tuple[str, str, str]:
    """``(model_id, kind, sha256)`` of ``model``'s artifact: the id is derived from the hash."""
    kind = next((k for k, cls in KINDS.items() if isinstance(model, cls)), None)
    if kind is None:
        raise RegistryError(f"cannot register a {type(model).__name__}: only {sorted(KINDS)}")
    sha = hashlib.sha256(model.to_json().encode()).hexdigest()
    return f"{family}-{kind}-{sha[:12]}", kind, sha


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinite floats as null (an undefined metric), so the
    manifest stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def entry_bytes(entry: dict[str, Any]) -> bytes:
    """What an entry's signature covers: its RFC 8785 form without ``signature``."""
    try:
        return canonicalize({k: v for k, v in entry.items() if k != "signature"})
    except CanonicalizationError as exc:
        raise RegistryError(f"entry of {entry.get('model_id')} cannot be signed: {exc}") from None


def signature_problem(entry: dict[str, Any], keys: ModelKeys) -> str | None:
    """Why ``entry``'s own signature is not good under ``keys``, or None when it is."""
    sig = entry.get("signature")
    if not isinstance(sig, dict):
        return "is unsigned"
    if sig.get("keyid") != keys.keyid or sig.get("alg") != ALG:
        return f"is signed with key {sig.get('keyid')!r}, not the bank's model-signing key {keys.keyid}"
    if not keys.verifies(ENTRY_PAYLOAD_TYPE, entry_bytes(entry), sig.get("entry")):
        return f"has a signature that does not verify with key {keys.keyid}"
    return None


def signature_html(entry: dict[str, Any], keys: ModelKeys) -> str:
    """The report section that says who signed a model and how to check it."""
    sig = entry.get("signature") or {}
    return (
        '<section id="signature"><h2>Signature</h2>'
        f"<p>Artifact SHA-256 <code>{html.escape(str(entry.get('sha256')))}</code>; artifact and "
        "registry entry signed with the bank's Ed25519 model-signing key "
        f"<code>{html.escape(keys.keyid)}</code> (DSSE, payload types "
        f"<code>{ARTIFACT_PAYLOAD_TYPE}</code> and <code>{ENTRY_PAYLOAD_TYPE}</code>). "
        "Loading refuses the model unless both signatures verify with this public key:</p>"
        f"<pre>{html.escape(keys.public_pem())}</pre>"
        f"<p>Artifact signature <code>{html.escape(str(sig.get('artifact')))}</code></p></section>"
    )


class Registry:
    """The registry at ``root``. ``keys`` is the bank's model-signing key: its private half
    is needed to register, its public half to load; listing entries needs neither."""

    def __init__(self, root: str, keys: ModelKeys | None = None) -> None:
        self.root = root.rstrip("/")
        self.fs, path = fsspec.core.url_to_fs(self.root)
        self.path = str(path).rstrip("/")
        self.keys = keys

    def _keys(self, signing: bool) -> ModelKeys:
        if self.keys is None or (signing and not self.keys.can_sign):
            need = "private" if signing else "public"
            raise RegistryError(
                f"the registry at {self.root} needs the bank's {need} model-signing key "
                f"to {'register' if signing else 'load'} models"
            )
        return self.keys

    def _sign(self, entry: dict[str, Any], artifact_sig: str) -> dict[str, Any]:
        keys = self._keys(signing=True)
        unsigned = {k: v for k, v in entry.items() if k != "signature"}
        signature = {"keyid": keys.keyid, "alg": ALG, "artifact": artifact_sig}
        signature["entry"] = keys.sign(ENTRY_PAYLOAD_TYPE, entry_bytes(unsigned))
        return {**unsigned, "signature": signature}

    def _write(self, rel: str, data: bytes) -> None:
        target = f"{self.path}/{rel}"
        parent = target.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        with self.fs.open(tmp, "wb") as out:
            out.write(data)
        self.fs.mv(tmp, target)

    def entries(self) -> list[dict[str, Any]]:
        path = f"{self.path}/manifest.json"
        if not self.fs.exists(path):
            return []
        where = f"{self.root}/manifest.json"
        try:
            doc = strict_json.loads(self.fs.cat_file(path), source=where)
        except (OSError, ValueError) as exc:
            raise RegistryError(f"registry manifest is unreadable: {exc}") from None
        models = doc.get("models") if isinstance(doc, dict) else None
        if not isinstance(models, list):
            raise RegistryError(f"registry manifest {where} has no model list")
        for i, e in enumerate(models):
            if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in ENTRY_STRINGS):
                raise RegistryError(f"registry manifest {where}: models[{i}] lacks a string {ENTRY_STRINGS}")
        return models

    def register(
        self,
        model: Any,
        *,
        family: str,
        training_window: tuple[str, str],
        metrics: dict[str, Any],
        status: str,
        report_html: str | None = None,
    ) -> dict[str, Any]:
        """Save ``model``'s JSON and add its entry; a new champion retires the family's old one.
        Registering the same artifact again updates its entry instead of adding one."""
        if status not in STATUSES:
            raise RegistryError(f"status must be one of {STATUSES}, got {status!r}")
        keys = self._keys(signing=True)
        model_id, kind, sha = identify(model, family)
        text = model.to_json().encode()
        self._write(f"artifacts/{model_id}.json", text)
        entries = [e for e in self.entries() if e["model_id"] != model_id]
        if status == "champion":
            entries = [
                self._retire(e) if e["family"] == family and e["status"] == "champion" else e for e in entries
            ]
        entry = self._sign(
            {
                "model_id": model_id,
                "kind": kind,
                "family": family,
                "sha256": sha,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "training_window": {"from": training_window[0], "to": training_window[1]},
                "metrics": _finite(metrics),
                "status": status,
            },
            keys.sign(ARTIFACT_PAYLOAD_TYPE, text),
        )
        entries.append(entry)
        if report_html is not None:
            head, body_end, tail = report_html.rpartition("</body>")
            section = signature_html(entry, keys)
            page = f"{head}{section}{body_end}{tail}" if body_end else report_html + section
            self._write(f"reports/{model_id}.html", page.encode())
        manifest = json.dumps({"models": entries}, indent=1, sort_keys=True, allow_nan=False)
        self._write("manifest.json", manifest.encode())
        return entry

    def _retire(self, entry: dict[str, Any]) -> dict[str, Any]:
        """``entry`` as retired, signed again only when its signature was good: an entry
        that was unsigned or tampered with is never laundered by a re-signature."""
        problem = signature_problem(entry, self._keys(signing=True))
        if problem is not None:
            log.warning("registry entry %s %s: retired without a new signature", entry["model_id"], problem)
            return {**entry, "status": "retired"}
        return self._sign({**entry, "status": "retired"}, entry["signature"]["artifact"])

    def entry(
        self, model_id: str | None = None, *, family: str = "pre_loan", status: str = "champion"
    ) -> dict[str, Any]:
        """The entry of ``model_id``, or the newest of ``family`` with ``status``."""
        entries = self.entries()
        if model_id is not None:
            found = [e for e in entries if e["model_id"] == model_id]
            what = f"model {model_id}"
        else:
            found = [e for e in entries if e["family"] == family and e["status"] == status]
            what = f"{status} of {family}"
        if not found:
            raise RegistryError(f"no {what} in the registry at {self.root}; train one first (train_models)")
        return found[-1]

    def load(
        self, model_id: str | None = None, *, family: str = "pre_loan", status: str = "champion"
    ) -> Loaded:
        """Read a model, checking its entry's signature, its SHA-256 and its artifact's
        signature against the bank's model-signing key.

        Raises:
            RegistryError: no such model, no key to check it with, an unsigned or wrongly
                signed entry or artifact, an artifact that does not match its hash, or an
                artifact that is not strict JSON.
        """
        keys = self._keys(signing=False)
        entry = self.entry(model_id, family=family, status=status)
        name = entry["model_id"]
        problem = signature_problem(entry, keys)
        if problem is not None:
            raise RegistryError(f"registry entry of {name} {problem}: refusing to load it")
        path = f"{self.path}/artifacts/{name}.json"
        try:
            data = self.fs.cat_file(path)
        except OSError as exc:
            raise RegistryError(f"artifact of {name} cannot be read: {exc}") from None
        sha = hashlib.sha256(data).hexdigest()
        if sha != entry["sha256"]:
            raise RegistryError(
                f"artifact of {name} has SHA-256 {sha}, the manifest says {entry['sha256']}: "
                "refusing to load it"
            )
        if not keys.verifies(ARTIFACT_PAYLOAD_TYPE, data, entry["signature"].get("artifact")):
            raise RegistryError(
                f"artifact of {name} is not signed with key {keys.keyid}: refusing to load it"
            )
        if entry["kind"] not in KINDS:
            raise RegistryError(f"registry entry of {name} has unknown kind {entry['kind']!r}")
        try:
            strict_json.loads(data, source=f"{self.root}/artifacts/{name}.json")
        except ValueError as exc:
            raise RegistryError(f"artifact is not strict JSON: {exc}") from None
        return Loaded(KINDS[entry["kind"]].from_json(data.decode()), entry)
