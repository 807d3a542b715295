"""Warehouse receipts on the chain: each receipt's attested history as of a day, the one
reader the monitor's collateral rule and the portfolio's collateral valuation share."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.verified import Reader


def receipt_status(read: Reader, lake_uri: str, numbers: list[str], day: date) -> pd.DataFrame:
    """The attested history of the receipts ``numbers`` sealed by the end of ``day``, in
    chain order, with each record's ``value_fen``."""
    if not numbers:
        return pd.DataFrame(
            columns=["receipt_no", "status", "pledgee", "value_fen", "record_id", "leaf_hash"]
        )
    t = read(
        lake_uri,
        "supply_chain",
        "warehouse_receipt",
        ["receipt_no", "status", "pledgee", "quantity", "unit_value_fen"],
        day,
        None,
        pc.field("receipt_no").isin(pa.array(sorted(set(numbers)), pa.string())),
    ).to_pandas()
    t["value_fen"] = t["quantity"].astype(float) * t["unit_value_fen"].astype(float)
    return t.sort_values(["height", "index"], kind="stable")
