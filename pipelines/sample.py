"""A small deterministic sample ledger for the demo and smoke tests.

It is not the SME economy simulator (``pipelines/simulate``): it writes plausible monthly
social-insurance contributions and sales invoices for a handful of firms, sealed by a
4-node consortium and exported as one bundle per source, to show the verifier at work.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

from attestations.dsse import SigningKey
from attestations.ledger import Block, Chain, KeyGrant, bundle_files, trust_policy, write_files
from attestations.uscc import CODE_SET, make_uscc

NODE_ALGS = ("ed25519", "ecdsa-p256-sha256", "ed25519", "ecdsa-p256-sha256")


def _seed(seed: int, label: str) -> bytes:
    return hashlib.sha256(f"{seed}:{label}".encode()).digest()


def consortium(chain_id: str, seed: int, hash_alg: str = "sha256") -> Chain:
    """A chain sealed by four nodes with keys derived from ``seed``."""
    signers = [
        KeyGrant(SigningKey.from_seed(f"node-{i}-key", alg, _seed(seed, f"node-{i}")), f"node-{i}")
        for i, alg in enumerate(NODE_ALGS)
    ]
    return Chain(chain_id, hash_alg, signers)


def firm_ids(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct valid Unified Social Credit Codes."""
    ids: set[str] = set()
    while len(ids) < count:
        ids.add(make_uscc("91" + "".join(rng.choice(CODE_SET) for _ in range(15))))
    return sorted(ids)


def write_sample_world(folder: Path, *, firms: int, months: int, seed: int) -> tuple[list[Path], Path]:
    """Write bundles and a trust policy under ``folder``; return the bundle folders and policy."""
    rng = random.Random(seed)
    chain = consortium("sample-consortium", seed)
    exporters = {
        src: KeyGrant(SigningKey.from_seed(f"{src}-exporter", "ed25519", _seed(seed, src)), src)
        for src in ("social_insurance", "supply_chain")
    }
    ids = firm_ids(firms, rng)
    entries: dict[str, list[tuple[Block, int]]] = {src: [] for src in exporters}
    for month in range(1, months + 1):
        period = f"2025-{month:02d}"
        contributions = []
        for firm in ids:
            heads = rng.randint(3, 60)
            due = heads * 520_000
            contributions.append(
                {
                    "record_id": f"si-{firm}-{period}",
                    "source": "social_insurance",
                    "kind": "contribution",
                    "firm_id": firm,
                    "event_time": f"{period}-15T02:00:00Z",
                    "body": {
                        "period": period,
                        "headcount": heads,
                        "wage_base_fen": heads * 650_000,
                        "due_fen": due,
                        "paid_fen": due if rng.random() > 0.05 else due // 2,
                    },
                }
            )
        block = chain.seal(contributions, f"{period}-20T00:00:00Z")
        entries["social_insurance"] += [(block, i) for i in range(len(contributions))]
        invoices = []
        for n, firm in enumerate(ids):
            amount = rng.randint(10_000, 5_000_000) * 100
            invoices.append(
                {
                    "record_id": f"inv-{period}-{n}",
                    "source": "supply_chain",
                    "kind": "invoice",
                    "firm_id": firm,
                    "event_time": f"{period}-10T08:00:00Z",
                    "body": {
                        "invoice_no": f"INV{month:02d}{n:05d}",
                        "order_no": f"PO{month:02d}{n:05d}",
                        "counterparty_id": ids[(n + 1) % len(ids)],
                        "direction": "sale",
                        "amount_fen": amount,
                        "tax_fen": amount * 13 // 100,
                        "issued_on": f"{period}-10",
                    },
                }
            )
        block = chain.seal(invoices, f"{period}-21T00:00:00Z")
        entries["supply_chain"] += [(block, i) for i in range(len(invoices))]
    bundles = []
    for src, grant in exporters.items():
        dest = write_files(
            folder / "landing" / src / f"2025-{months:02d}-28",
            bundle_files(
                chain=chain,
                source=src,
                entries=entries[src],
                first_height=0,
                last_height=chain.height - 1,
                exporter=grant.key,
                bundle_id=f"{src}-2025-{months:02d}",
                exported_at=f"2025-{months:02d}-28T00:00:00Z",
            ),
        )
        bundles.append(dest)
    trust = folder / "trust.json"
    trust.write_text(json.dumps(trust_policy(chain, 3, list(exporters.values())), indent=1))
    return bundles, trust


def tamper_record_body(bundle: Path, dest: Path) -> Path:
    """Copy ``bundle`` to ``dest`` and raise one paid amount in records.jsonl, as a forger would."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(bundle, dest)
    records = dest / "records.jsonl"
    data = records.read_bytes()
    records.write_bytes(data.replace(b'\\"paid_fen\\":', b'\\"paid_fen\\":9', 1))
    return dest
