"""The consortium's side of the format: seal records into signed blocks and write bundles.

Used by the simulator and the tests. It writes what the spec says a ledger writes; the
verifier does not rely on it (it follows the spec, and is tested on hand-altered bundles).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attestations import FORMAT
from attestations.canonical import canonicalize
from attestations.dsse import HEADER_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE, SigningKey
from attestations.hashing import hash_function, sha256_hex
from attestations.merkle import MerkleTree
from attestations.verifier import ZERO_HASH


@dataclass(frozen=True)
class KeyGrant:
    """A key as the trust policy lists it: its owner (node or source) and validity window."""

    key: SigningKey
    owner: str
    not_before: str = "2000-01-01T00:00:00Z"
    not_after: str | None = None
    revoked_at: str | None = None

    def policy_entry(self, owner_member: str) -> dict[str, Any]:
        """The JSON entry of this key in a trust policy."""
        return {
            "keyid": self.key.keyid,
            owner_member: self.owner,
            "alg": self.key.alg,
            "public_key": self.key.public_pem(),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "revoked_at": self.revoked_at,
        }


@dataclass
class Block:
    """A sealed block: its header, signatures, and the tree over its records' leaf bytes."""

    header: dict[str, Any]
    header_hash: bytes
    signatures: list[dict[str, str]]
    leaves: list[bytes]
    tree: MerkleTree

    @property
    def height(self) -> int:
        return int(self.header["height"])

    def header_line(self) -> dict[str, Any]:
        """The headers.jsonl line of this block."""
        return {"header": self.header, "signatures": self.signatures}

    def record_line(self, index: int) -> dict[str, Any]:
        """The records.jsonl line of the record at ``index``."""
        return {
            "height": self.height,
            "index": index,
            "leaf": self.leaves[index].decode("utf-8"),
            "proof": [p.hex() for p in self.tree.proof(index)],
        }


@dataclass
class Chain:
    """A consortium chain that seals blocks signed by its nodes.

    Only header lines are kept for the whole chain (bundles need every header of their
    range); a block's leaves live as long as the caller keeps the returned ``Block``.
    """

    chain_id: str
    hash_alg: str
    signers: Sequence[KeyGrant]
    header_lines: list[dict[str, Any]] = field(default_factory=list)
    head_hash: str = ZERO_HASH

    @property
    def height(self) -> int:
        """Height of the next block to seal."""
        return len(self.header_lines)

    def seal(self, records: Iterable[Mapping[str, Any]], sealed_at: str) -> Block:
        """Seal ``records`` (1 or more) into the next block, signed by every signer."""
        return self.seal_leaves([canonicalize(r) for r in records], sealed_at)

    def seal_leaves(self, leaves: list[bytes], sealed_at: str) -> Block:
        """Seal raw leaf bytes as they are (tests use it to seal what a faulty writer would)."""
        if not leaves:
            raise ValueError("a block holds at least one record")
        if self.header_lines and sealed_at < self.header_lines[-1]["header"]["sealed_at"]:
            raise ValueError(f"sealed_at {sealed_at} goes back from the previous block")
        tree = MerkleTree(leaves, self.hash_alg)
        header = {
            "chain_id": self.chain_id,
            "height": self.height,
            "prev_hash": self.head_hash,
            "tree_size": len(leaves),
            "root_hash": tree.root.hex(),
            "sealed_at": sealed_at,
            "hash_alg": self.hash_alg,
        }
        header_bytes = canonicalize(header)
        signatures = [
            {"keyid": g.key.keyid, "sig": g.key.sign_b64(HEADER_PAYLOAD_TYPE, header_bytes)}
            for g in self.signers
        ]
        header_hash = hash_function(self.hash_alg)(header_bytes)
        block = Block(header, header_hash, signatures, leaves, tree)
        self.header_lines.append(block.header_line())
        self.head_hash = header_hash.hex()
        return block


def jsonl(lines: Iterable[Mapping[str, Any]]) -> bytes:
    """Compact JSON lines, UTF-8, each ending in a newline."""
    return b"".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n" for line in lines
    )


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The manifest as written to manifest.json (pretty JSON; the signature covers these bytes)."""
    return json.dumps(manifest, indent=1).encode("utf-8") + b"\n"


def sign_manifest(manifest_raw: bytes, exporter: SigningKey) -> bytes:
    """The manifest.sig line for ``manifest_raw``."""
    sig = exporter.sign_b64(MANIFEST_PAYLOAD_TYPE, manifest_raw)
    return json.dumps({"keyid": exporter.keyid, "sig": sig}).encode("utf-8") + b"\n"


def write_files(dest: str | Path, files: Mapping[str, bytes]) -> Path:
    """Write a bundle folder atomically: a temporary sibling folder renamed into place."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def bundle_files(
    *,
    chain: Chain,
    source: str,
    entries: Sequence[tuple[Block, int]],
    first_height: int,
    last_height: int,
    exporter: SigningKey,
    bundle_id: str,
    exported_at: str,
) -> dict[str, bytes]:
    """The four files of a bundle exporting ``entries`` (block, index) of ``chain``."""
    if not 0 <= first_height <= last_height < chain.height:
        raise ValueError(f"heights {first_height}..{last_height} are not on a chain of {chain.height} blocks")
    headers = jsonl(chain.header_lines[first_height : last_height + 1])
    records = jsonl(block.record_line(i) for block, i in entries)
    manifest = {
        "format": FORMAT,
        "bundle_id": bundle_id,
        "chain_id": chain.chain_id,
        "source": source,
        "exported_at": exported_at,
        "first_height": first_height,
        "last_height": last_height,
        "record_count": len(entries),
        "headers_sha256": sha256_hex(headers),
        "records_sha256": sha256_hex(records),
    }
    raw = manifest_bytes(manifest)
    return {
        "manifest.json": raw,
        "manifest.sig": sign_manifest(raw, exporter),
        "headers.jsonl": headers,
        "records.jsonl": records,
    }


def trust_policy(chain: Chain, threshold: int, exporters: Sequence[KeyGrant] | None = None) -> dict[str, Any]:
    """The trust policy a bank would hold for ``chain``: its signers as node keys and
    ``exporters`` (each grant's owner is the source it exports)."""
    policy: dict[str, Any] = {
        "chain_id": chain.chain_id,
        "hash_alg": chain.hash_alg,
        "threshold": threshold,
        "keys": [g.policy_entry("node") for g in chain.signers],
    }
    if exporters is not None:
        policy["exporters"] = [grant.policy_entry("source") for grant in exporters]
    return policy


def resign_manifest(files: Mapping[str, bytes], exporter: SigningKey, **changes: Any) -> dict[str, bytes]:
    """Recompute a bundle's manifest digests and record count from its files, apply
    ``changes`` to the manifest, and sign it again: what an exporter does after editing a
    bundle (honestly, or as the forger the tests and tampered copies play)."""
    manifest = json.loads(files["manifest.json"])
    lines = [seg for seg in files["records.jsonl"].split(b"\n") if seg]
    manifest.update(
        headers_sha256=sha256_hex(files["headers.jsonl"]),
        records_sha256=sha256_hex(files["records.jsonl"]),
        record_count=len(lines),
    )
    manifest.update(changes)
    raw = manifest_bytes(manifest)
    return {**files, "manifest.json": raw, "manifest.sig": sign_manifest(raw, exporter)}
