"""The bank's trust policy (spec section 4): consortium node keys, exporter keys, quorum."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from attestations import strict_json
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
from attestations.records import SOURCES
from attestations.strict_json import StrictJSONError
from attestations.timestamps import TimestampKey, timestamp_key

log = logging.getLogger(__name__)


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


POLICY_MEMBERS = frozenset({"chain_id", "hash_alg", "threshold", "keys", "exporters"})
KEY_TIMES = ("not_before", "not_after", "revoked_at")


def _entry_shape(entry: Any, owner_member: str, where: str) -> None:
    """Refuse a key entry whose shape is wrong: such a policy is unusable, not partly usable.

    Raises:
        PolicyError: not an object, an unknown member (a misspelt ``revoked_at`` would leave
            a revoked key trusted), no string ``keyid`` or owner, an unknown ``alg``, or a
            validity time that is neither a string nor null.
    """
    if not isinstance(entry, dict):
        raise PolicyError(f"trust policy {where} is not an object")
    unknown = sorted(set(entry) - {"keyid", owner_member, "alg", "public_key", *KEY_TIMES})
    if unknown:
        raise PolicyError(f"trust policy {where} has unknown members {unknown}")
    for member in ("keyid", owner_member):
        if not isinstance(entry.get(member), str) or not entry[member]:
            raise PolicyError(f"trust policy {where} has no non-empty string {member}")
    if owner_member == "source" and entry["source"] not in SOURCES:
        raise PolicyError(f"trust policy {where} source {entry['source']!r} is not one of {SOURCES}")
    if entry.get("alg") not in SIG_ALGS:
        raise PolicyError(f"trust policy {where} alg {entry.get('alg')!r} is not one of {SIG_ALGS}")
    for member in KEY_TIMES:
        if entry.get(member) is not None and not isinstance(entry[member], str):
            raise PolicyError(f"trust policy {where} {member} is neither a string nor null")


def _optional_time(entry: Mapping[str, Any], member: str) -> tuple[bool, TimestampKey | None]:
    value = entry.get(member)
    if value is None:
        return True, None
    key = timestamp_key(value)
    return key is not None, key


def _parse_key(entry: dict[str, Any], owner_member: str) -> TrustedKey | str:
    """A usable key, or why the entry is ignored (spec section 8: a public key that does not
    parse or fit its ``alg``, or no valid ``not_before``); the entry's shape is checked."""
    keyid, owner, alg = entry["keyid"], entry[owner_member], entry["alg"]
    not_before = timestamp_key(entry.get("not_before"))
    if not_before is None:
        return f"{keyid!r}: missing or invalid not_before"
    ok_after, not_after = _optional_time(entry, "not_after")
    ok_revoked, revoked_at = _optional_time(entry, "revoked_at")
    if not (ok_after and ok_revoked):
        return f"{keyid!r}: invalid not_after or revoked_at"
    try:
        public_key = load_public_key(entry.get("public_key"), alg)
    except (ValueError, TypeError, UnicodeError) as exc:
        cause = " ".join(str(exc).split())[:200]
        return f"{keyid!r}: public key unusable ({cause})"
    return TrustedKey(keyid, owner, alg, public_key, not_before, not_after, revoked_at)


def _public_bytes(key: PublicKey) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _index_keys(entries: list[Any], member: str, ignored: list[str]) -> dict[str, tuple[TrustedKey, ...]]:
    """Usable keys by keyid; a keyid or a public key shared by two owners is refused, since
    one private key would then count as two nodes of the quorum.

    Raises:
        PolicyError: an entry of the wrong shape, or a keyid or key shared by two owners.
    """
    list_name = "keys" if member == "node" else "exporters"
    index: dict[str, list[TrustedKey]] = {}
    owner_of_keyid: dict[str, str] = {}
    owner_of_key: dict[bytes, str] = {}
    for i, entry in enumerate(entries):
        where = f"{list_name}[{i}]"
        _entry_shape(entry, member, where)
        if owner_of_keyid.setdefault(entry["keyid"], entry[member]) != entry[member]:
            raise PolicyError(f"trust policy {where} keyid {entry['keyid']!r} belongs to two {member}s")
        parsed = _parse_key(entry, member)
        if isinstance(parsed, str):
            ignored.append(f"{where} ignored: {parsed}")
            continue
        if owner_of_key.setdefault(_public_bytes(parsed.public_key), parsed.owner) != parsed.owner:
            raise PolicyError(f"trust policy {where} public key is also another {member}'s")
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
        """Validate and parse a whole policy before any bundle is judged. Key entries the spec
        says to ignore (a public key that does not parse or fit its ``alg``, no valid
        ``not_before``) are listed in ``ignored`` and logged as warnings.

        Raises:
            PolicyError: no string ``chain_id``, no known ``hash_alg``, a ``threshold`` that
                is not an integer from 1 to the number of distinct nodes with usable keys, no
                ``keys`` list, ``exporters`` neither a list nor absent, an unknown member, or
                a key entry of the wrong shape.
        """
        if not isinstance(data, dict):
            raise PolicyError("trust policy is not a JSON object")
        unknown = sorted(set(data) - POLICY_MEMBERS)
        if unknown:
            raise PolicyError(
                f"trust policy has unknown members {unknown}; expected {sorted(POLICY_MEMBERS)}"
            )
        chain_id, hash_alg, threshold = data.get("chain_id"), data.get("hash_alg"), data.get("threshold")
        if not isinstance(chain_id, str) or not chain_id:
            raise PolicyError("trust policy has no string chain_id")
        if hash_alg not in HASH_ALGS:
            raise PolicyError(f"trust policy hash_alg {hash_alg!r} is not one of {HASH_ALGS}")
        if type(threshold) is not int or threshold < 1:
            raise PolicyError(f"trust policy threshold {threshold!r} is not an integer >= 1")
        if not isinstance(data.get("keys"), list):
            raise PolicyError("trust policy has no keys list")
        raw_exporters = data.get("exporters")
        if raw_exporters is not None and not isinstance(raw_exporters, list):
            raise PolicyError(f"trust policy exporters is a {type(raw_exporters).__name__}, not a list")
        ignored: list[str] = []
        keys = _index_keys(data["keys"], "node", ignored)
        exporters = None if raw_exporters is None else _index_keys(raw_exporters, "source", ignored)
        nodes = {key.owner for entries in keys.values() for key in entries}
        if threshold > len(nodes):
            raise PolicyError(
                f"trust policy threshold {threshold} exceeds the {len(nodes)} distinct nodes with usable keys"
                + (f" ({len(ignored)} key entries ignored: {ignored[0]}...)" if ignored else "")
            )
        for reason in ignored:
            log.warning("trust policy %s", reason)
        if exporters is None:
            log.warning("trust policy lists no exporters: every manifest will be manifest_invalid")
        return cls(chain_id, hash_alg, threshold, keys, exporters, tuple(ignored))

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "trust policy") -> TrustPolicy:
        """Parse a policy from JSON text with the strict reader (``attestations.strict_json``):
        a repeated member (``"threshold": 3, "threshold": 1``), deep nesting, NaN or an
        integer beyond 2^53 - 1 makes the policy unusable.

        Raises:
            PolicyError: the text is not strict JSON (one line naming ``source`` and the
                place), or the policy is unusable.
        """
        try:
            data = strict_json.loads(text, source=source)
        except StrictJSONError as exc:
            raise PolicyError(f"trust policy is not strict JSON: {exc}") from None
        try:
            return cls.from_dict(data)
        except PolicyError as exc:
            raise PolicyError(f"{source}: {exc}") from None

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
        return cls.from_json(text, source=str(path))

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
