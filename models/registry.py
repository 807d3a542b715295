"""The model registry: model artifacts as JSON files beside a manifest of their SHA-256.

Layout under the registry root (a path or fsspec URI)::

    manifest.json               {"models": [entry, ...]}, newest last
    artifacts/<model_id>.json   the model's own JSON (Scorecard.to_json, Challenger.to_json)
    reports/<model_id>.html     its validation report

An entry: ``model_id, kind, family, sha256, created_at, training_window {from, to},
metrics {...}, status`` (``champion``, ``challenger`` or ``retired``); one champion per
family. Loading reads the artifact, recomputes its SHA-256 and refuses a mismatch. Nothing
is unpickled. Writers must not run concurrently (the training DAG allows one active run).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec

from models.challenger import Challenger
from models.scorecard import Scorecard

KINDS: dict[str, Any] = {"scorecard": Scorecard, "challenger": Challenger}
STATUSES = ("champion", "challenger", "retired")


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


class Registry:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.fs, path = fsspec.core.url_to_fs(self.root)
        self.path = str(path).rstrip("/")

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
        try:
            doc = json.loads(self.fs.cat_file(path))
            models = doc["models"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(f"registry manifest {self.root}/manifest.json is unreadable: {exc}") from None
        if not isinstance(models, list):
            raise RegistryError(f"registry manifest {self.root}/manifest.json has no model list")
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
        model_id, kind, sha = identify(model, family)
        text = model.to_json().encode()
        self._write(f"artifacts/{model_id}.json", text)
        if report_html is not None:
            self._write(f"reports/{model_id}.html", report_html.encode())
        entries = [e for e in self.entries() if e["model_id"] != model_id]
        if status == "champion":
            for e in entries:
                if e["family"] == family and e["status"] == "champion":
                    e["status"] = "retired"
        entry = {
            "model_id": model_id,
            "kind": kind,
            "family": family,
            "sha256": sha,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "training_window": {"from": training_window[0], "to": training_window[1]},
            "metrics": metrics,
            "status": status,
        }
        entries.append(entry)
        self._write("manifest.json", json.dumps({"models": entries}, indent=1, sort_keys=True).encode())
        return entry

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
        """Read a model, checking its SHA-256 against the manifest.

        Raises:
            RegistryError: no such model, or its artifact does not match its hash.
        """
        entry = self.entry(model_id, family=family, status=status)
        path = f"{self.path}/artifacts/{entry['model_id']}.json"
        try:
            data = self.fs.cat_file(path)
        except OSError as exc:
            raise RegistryError(f"artifact of {entry['model_id']} cannot be read: {exc}") from None
        sha = hashlib.sha256(data).hexdigest()
        if sha != entry["sha256"]:
            raise RegistryError(
                f"artifact of {entry['model_id']} has SHA-256 {sha}, the manifest says {entry['sha256']}: "
                "refusing to load it"
            )
        return Loaded(KINDS[entry["kind"]].from_json(data.decode()), entry)
