"""Build valid bundles in memory, and re-sign them after a tamper, for the verifier tests."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from attestations.dsse import HEADER_PAYLOAD_TYPE, SigningKey
from attestations.ledger import (
    Block,
    Chain,
    KeyGrant,
    bundle_files,
    jsonl,
    resign_manifest,
    trust_policy,
)
from attestations.policy import TrustPolicy
from attestations.state import MemoryStore
from attestations.uscc import make_uscc
from attestations.verifier import BundleFiles, BundleResult, Verifier

FIRM = make_uscc("91110000MA0000001")
PARTNER = make_uscc("91310000MA0000002")
ALGS = ("ed25519", "ecdsa-p256-sha256", "ed25519", "ecdsa-p256-sha256")


def _seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def contribution(n: int, firm: str = FIRM, source: str = "social_insurance") -> dict[str, Any]:
    return {
        "record_id": f"{source}-{n}",
        "source": source,
        "kind": "contribution",
        "firm_id": firm,
        "event_time": "2025-03-01T08:00:00Z",
        "body": {
            "period": "2025-02",
            "headcount": 12,
            "wage_base_fen": 7_800_000,
            "due_fen": 2_496_000,
            "paid_fen": 2_496_000,
        },
    }


@dataclass
class Ledger:
    """A 4-node chain (threshold 3) with an exporter per source."""

    hash_alg: str = "sha256"
    chain_id: str = "test-chain"
    chain: Chain = field(init=False)
    exporters: dict[str, KeyGrant] = field(init=False)
    blocks: list[Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        signers = [
            KeyGrant(SigningKey.from_seed(f"k{i}", a, _seed(f"node{i}")), f"node-{i}")
            for i, a in enumerate(ALGS)
        ]
        self.chain = Chain(self.chain_id, self.hash_alg, signers)
        self.exporters = {
            s: KeyGrant(SigningKey.from_seed(f"exp-{s}", "ed25519", _seed(s)), s)
            for s in ("social_insurance", "housing_fund", "supply_chain")
        }

    def seal(self, records: list[dict[str, Any]], sealed_at: str = "2025-03-02T00:00:00Z") -> Block:
        block = self.chain.seal(records, sealed_at)
        self.blocks.append(block)
        return block

    def seal_leaves(self, leaves: list[bytes], sealed_at: str = "2025-03-02T00:00:00Z") -> Block:
        block = self.chain.seal_leaves(leaves, sealed_at)
        self.blocks.append(block)
        return block

    def policy_dict(self) -> dict[str, Any]:
        return trust_policy(self.chain, 3, list(self.exporters.values()))

    def policy(self) -> TrustPolicy:
        return TrustPolicy.from_dict(self.policy_dict())

    def bundle(
        self,
        source: str = "social_insurance",
        first: int = 0,
        last: int | None = None,
        entries: list[tuple[Block, int]] | None = None,
        bundle_id: str = "b1",
    ) -> dict[str, bytes]:
        last = self.chain.height - 1 if last is None else last
        if entries is None:
            entries = [(b, i) for b in self.blocks if first <= b.height <= last for i in range(len(b.leaves))]
        return bundle_files(
            chain=self.chain,
            source=source,
            entries=entries,
            first_height=first,
            last_height=last,
            exporter=self.exporters[source].key,
            bundle_id=bundle_id,
            exported_at="2025-03-03T00:00:00Z",
        )

    def sign_header(self, header: dict[str, Any], nodes: range = range(4)) -> list[dict[str, str]]:
        from attestations.canonical import canonicalize

        signers = self.chain.signers
        return [
            {
                "keyid": signers[i].key.keyid,
                "sig": signers[i].key.sign_b64(HEADER_PAYLOAD_TYPE, canonicalize(header)),
            }
            for i in nodes
        ]


def resign(files: dict[str, bytes], exporter: SigningKey, **manifest_changes: Any) -> dict[str, bytes]:
    """Re-sign tampered files as an exporter that is itself the forger would."""
    return resign_manifest(files, exporter, **manifest_changes)


def edit_lines(data: bytes, edit: Any) -> bytes:
    """Apply ``edit(list_of_parsed_lines)`` to a JSONL file and write it back."""
    lines = [json.loads(seg) for seg in data.split(b"\n") if seg]
    edit(lines)
    return jsonl(lines)


def verify(
    policy: TrustPolicy, files: dict[str, bytes], store: MemoryStore | None = None, name: str = "bundle"
) -> BundleResult:
    verifier = Verifier(policy, store if store is not None else MemoryStore())
    result = verifier.verify(
        BundleFiles(
            name,
            files.get("manifest.json"),
            files.get("manifest.sig"),
            files.get("headers.jsonl"),
            files.get("records.jsonl"),
        )
    )
    assert result.lines == len(result.verified) + result.duplicates + len(result.quarantined), (
        "a line was lost"
    )
    return result
