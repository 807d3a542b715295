"""The bank's trust policy (spec section 4): consortium node keys, exporter keys, quorum."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attestations.dsse import (
    HEADER_PAYLOAD_TYPE,
    SIG_ALGS,
    PublicKey,
    decode_signature,
    load_public_key,
    pae,
    verify,
)
from attestations.errors import PolicyError
from attestations.hashing import HASH_ALGS
from attestations.timestamps import TimestampKey, timestamp_key


@dataclass(frozen=True)
class TrustedKey:
    """A public key with its owner (a node or an exporter's source) and validity window."""

    keyid: str
    owner: str
    alg: str
    public_key: PublicKey
    not_before: TimestampKey
    not_after: TimestampKey | None
    revoked_at: TimestampKey | None

    def valid_at(self, moment: TimestampKey) -> bool:
        """``not_before <= moment``, ``moment <= not_after`` and ``moment < revoked_at``."""
        return (
            self.not_before <= moment
            and (self.not_after is None or moment <= self.not_after)
            and (self.revoked_at is None or moment < self.revoked_at)
        )


def _optional_time(entry: Mapping[str, Any], member: str) -> tuple[bool, TimestampKey | None]:
    value = entry.get(member)
    if value is None:
        return True, None
    key = timestamp_key(value)
    return key is not None, key


def _parse_key(entry: Any, owner_member: str) -> TrustedKey | str:
    """A usable key, or the reason the entry is ignored."""
    if not isinstance(entry, dict):
        return "entry is not an object"
    keyid, owner, alg = entry.get("keyid"), entry.get(owner_member), entry.get("alg")
    if not isinstance(keyid, str) or not isinstance(owner, str):
        return f"entry lacks a string keyid or {owner_member}"
    if alg not in SIG_ALGS:
        return f"{keyid}: unknown alg {alg!r}"
    not_before = timestamp_key(entry.get("not_before"))
    if not_before is None:
        return f"{keyid}: missing or invalid not_before"
    ok_after, not_after = _optional_time(entry, "not_after")
    ok_revoked, revoked_at = _optional_time(entry, "revoked_at")
    if not (ok_after and ok_revoked):
        return f"{keyid}: invalid not_after or revoked_at"
    try:
        public_key = load_public_key(entry.get("public_key"), alg)
    except (ValueError, TypeError, UnicodeError) as exc:
        return f"{keyid}: public key unusable ({exc})"
    return TrustedKey(keyid, owner, alg, public_key, not_before, not_after, revoked_at)


def _index_keys(
    entries: Iterable[Any], owner_member: str, ignored: list[str]
) -> dict[str, tuple[TrustedKey, ...]]:
    index: dict[str, list[TrustedKey]] = {}
    for entry in entries:
        parsed = _parse_key(entry, owner_member)
        if isinstance(parsed, str):
            ignored.append(parsed)
        else:
            index.setdefault(parsed.keyid, []).append(parsed)
    return {k: tuple(v) for k, v in index.items()}


@dataclass(frozen=True)
class TrustPolicy:
    """A parsed, usable trust policy. Build it with ``from_dict``, ``from_json`` or ``load``."""

    chain_id: str
    hash_alg: str
    threshold: int
    keys: Mapping[str, tuple[TrustedKey, ...]]
    exporters: Mapping[str, tuple[TrustedKey, ...]] | None
    ignored: tuple[str, ...] = field(default=())

    @classmethod
    def from_dict(cls, data: Any) -> TrustPolicy:
        """Parse a policy object; unusable key entries are ignored and listed in ``ignored``.

        Raises:
            PolicyError: no ``chain_id``, no known ``hash_alg``, no ``threshold`` of at
                least 1 or no ``keys`` list.
        """
        if not isinstance(data, dict):
            raise PolicyError("trust policy is not a JSON object")
        chain_id, hash_alg, threshold = data.get("chain_id"), data.get("hash_alg"), data.get("threshold")
        if not isinstance(chain_id, str):
            raise PolicyError("trust policy has no string chain_id")
        if hash_alg not in HASH_ALGS:
            raise PolicyError(f"trust policy hash_alg {hash_alg!r} is not one of {HASH_ALGS}")
        if type(threshold) is not int or threshold < 1:
            raise PolicyError(f"trust policy threshold {threshold!r} is not an integer >= 1")
        if not isinstance(data.get("keys"), list):
            raise PolicyError("trust policy has no keys list")
        ignored: list[str] = []
        keys = _index_keys(data["keys"], "node", ignored)
        raw_exporters = data.get("exporters")
        exporters = _index_keys(raw_exporters, "source", ignored) if isinstance(raw_exporters, list) else None
        return cls(chain_id, hash_alg, threshold, keys, exporters, tuple(ignored))

    @classmethod
    def from_json(cls, text: str | bytes) -> TrustPolicy:
        """Parse a policy from JSON text.

        Raises:
            PolicyError: the text is not JSON or the policy is unusable.
        """
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PolicyError(f"trust policy is not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> TrustPolicy:
        """Read and parse a policy file.

        Raises:
            PolicyError: the file cannot be read, or the policy is unusable.
        """
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise PolicyError(f"cannot read trust policy {path}: {exc.strerror or exc}") from None
        return cls.from_json(text)

    def quorum_nodes(self, header_bytes: bytes, sealed_at: TimestampKey, signatures: Any) -> set[str]:
        """The distinct nodes whose valid, in-window keys signed ``header_bytes``.

        Malformed signature entries, unknown key ids and signatures that do not verify are
        ignored, as the spec says.
        """
        nodes: set[str] = set()
        if not isinstance(signatures, list):
            return nodes
        message = pae(HEADER_PAYLOAD_TYPE, header_bytes)
        for entry in signatures:
            if not isinstance(entry, dict) or not isinstance(entry.get("keyid"), str):
                continue
            candidates = self.keys.get(entry["keyid"], ())
            if not candidates or all(k.owner in nodes for k in candidates):
                continue
            signature = decode_signature(entry.get("sig"))
            if signature is None:
                continue
            for key in candidates:
                if (
                    key.owner not in nodes
                    and key.valid_at(sealed_at)
                    and verify(key.public_key, message, signature)
                ):
                    nodes.add(key.owner)
                    break
            if len(nodes) >= self.threshold:
                break  # quorum met: further signatures cannot change the outcome
        return nodes

    def exporter_signed(
        self, payload: bytes, source: str, exported_at: TimestampKey, keyid: Any, sig: Any
    ) -> bool:
        """True when ``sig`` over ``payload`` verifies with a valid exporter key of ``source``."""
        if self.exporters is None or not isinstance(keyid, str):
            return False
        signature = decode_signature(sig)
        if signature is None:
            return False
        return any(
            key.owner == source and key.valid_at(exported_at) and verify(key.public_key, payload, signature)
            for key in self.exporters.get(keyid, ())
        )
