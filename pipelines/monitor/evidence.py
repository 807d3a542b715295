"""The attested records behind each condition: record ids and leaf hashes, newest first."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.calendar import month_number
from pipelines.verified import Reader

EVIDENCE_CAP = 50
"""The most records an alert cites."""
EVIDENCE_MONTHS = 6
"""How many sealed months back the sales and contribution evidence is read."""
_READS = {
    "sales": ("supply_chain", "invoice", ["firm_id", "issued_on"]),
    "si": ("social_insurance", "contribution", ["firm_id", "period"]),
    "hf": ("housing_fund", "contribution", ["firm_id", "period"]),
    "lease": ("supply_chain", "lease", ["firm_id", "lease_no"]),
}
"""What each kind of evidence reads (leases: their whole history)."""


def attach_evidence(
    read: Reader,
    lake_uri: str,
    found: list[dict[str, Any]],
    receipts: pd.DataFrame,
    feats: pd.DataFrame,
    day: date,
) -> None:
    """The attested records behind each condition (record ids and leaf hashes, newest first,
    at most ``EVIDENCE_CAP``), read once per kind for every firm that needs them."""
    since = month_number(day) - EVIDENCE_MONTHS
    firms = {
        kind: sorted({c["firm_id"] for c in found if c["evidence_kind"] == kind})
        for kind in ("sales", "si", "hf", "lease")
    }
    frames: dict[str, pd.DataFrame] = {}
    for kind, (source, table, cols) in _READS.items():
        if firms[kind]:
            frames[kind] = (
                read(
                    lake_uri,
                    source,
                    table,
                    cols,
                    day,
                    since if kind != "lease" else None,
                    pc.field("firm_id").isin(pa.array(firms[kind], pa.string())),
                )
                .to_pandas()
                .sort_values(["height", "index"], ascending=False, kind="stable")
            )
    hashes = feats.set_index("firm_id")["input_hash"] if len(feats) else pd.Series(dtype=str)
    for c in found:
        kind = c.pop("evidence_kind")
        if kind in frames:
            rows = frames[kind][frames[kind]["firm_id"] == c["firm_id"]]
        elif kind.startswith("receipts:"):
            rows = receipts[receipts["receipt_no"].isin(kind.split(":", 1)[1].split(","))]
        elif kind == "features":
            c["evidence"] = [{"feature_input_hash": str(hashes.get(c["firm_id"], ""))}]
            continue
        else:
            c["evidence"] = [{"bank_books": "loan_performance", "loan_id": c["loan_id"]}]
            continue
        c["figures"]["evidence_records"] = len(rows)
        c["evidence"] = [
            {"record_id": str(r), "leaf_hash": str(h)}
            for r, h in zip(rows["record_id"][:EVIDENCE_CAP], rows["leaf_hash"][:EVIDENCE_CAP], strict=True)
        ]
