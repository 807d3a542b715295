"""Sealing the day's records into blocks of the consortium chain, and the daily exports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from attestations.dsse import SigningKey
from attestations.ledger import Block, Chain, KeyGrant, bundle_files, trust_policy, write_files
from pipelines.simulate.config import SEAL_ORDER, WorldConfig
from pipelines.simulate.economy import day_str

NODE_ALGS = ("ed25519", "ecdsa-p256-sha256", "ed25519", "ecdsa-p256-sha256")
THRESHOLD = 3


def _key_seed(cfg: WorldConfig, label: str) -> bytes:
    return hashlib.sha256(f"smecredit-sim:{cfg.seed}:{label}".encode()).digest()


class Consortium:
    """The chain, its four signing nodes and one exporter per data owner."""

    def __init__(self, cfg: WorldConfig) -> None:
        self.cfg = cfg
        not_before = f"{cfg.start.year - 1}-01-01T00:00:00Z"
        signers = [
            KeyGrant(
                SigningKey.from_seed(f"node-{i}-{cfg.start.year}", alg, _key_seed(cfg, f"node-{i}")),
                f"node-{i}",
                not_before,
            )
            for i, alg in enumerate(NODE_ALGS)
        ]
        self.chain = Chain(cfg.chain_id, cfg.hash_alg, signers)
        self.exporters = {
            src: KeyGrant(
                SigningKey.from_seed(f"{src}-exporter", "ed25519", _key_seed(cfg, src)), src, not_before
            )
            for src in SEAL_ORDER
        }

    def policy(self) -> dict[str, Any]:
        """The trust policy the bank holds for this chain."""
        return trust_policy(self.chain, THRESHOLD, list(self.exporters.values()))

    def seal_day(self, day: int, records: list[dict[str, Any]], landing: Path) -> dict[str, int]:
        """Seal ``records`` (already in order) into blocks per source and export each source's
        blocks of the day as one bundle under ``landing/<source>/<date>/``; counts per source."""
        counts: dict[str, int] = {}
        for rank, source in enumerate(SEAL_ORDER):
            mine = [r for r in records if r["source"] == source]
            if not mine:
                continue
            blocks: list[Block] = []
            size = self.cfg.block_size
            for k in range(0, len(mine), size):
                second = 22 * 3600 + rank * 600 + len(blocks)
                sealed_at = f"{day_str(day)}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
                blocks.append(self.chain.seal(mine[k : k + size], sealed_at))
            entries = [(b, i) for b in blocks for i in range(len(b.leaves))]
            date = day_str(day)
            files = bundle_files(
                chain=self.chain,
                source=source,
                entries=entries,
                first_height=blocks[0].height,
                last_height=blocks[-1].height,
                exporter=self.exporters[source].key,
                bundle_id=f"{source}-{date}",
                exported_at=f"{date}T23:30:00Z",
            )
            write_files(landing / source / date, files)
            counts[source] = len(mine)
        return counts

    def write_policy(self, path: Path) -> None:
        """Write the trust policy JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.policy(), indent=1) + "\n")
