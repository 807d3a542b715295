"""The collateral behind each loan at a month end, read from the chain: the receipts the
loan offered whose latest attested state, among records sealed by the month end, is pledged
to this bank, valued at quantity x unit value, with the record id and leaf hash of that
state (the evidence a provision can be traced to)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.receipts import receipt_status
from pipelines.verified import read_verified

COLUMNS = [
    "loan_id",
    "collateral_value_fen",
    "collateral_receipts_pledged",
    "collateral_record_ids",
    "collateral_leaf_hashes",
]


def pledged_collateral(lake_uri: str, loans: pd.DataFrame, as_of: date, bank_name: str) -> pd.DataFrame:
    """Per loan of ``loans`` (``loan_id``, ``collateral_receipts``): the value of its receipts
    still pledged to ``bank_name`` at ``as_of`` and their evidence; loans without any get 0
    and empty lists."""
    pairs = loans[["loan_id", "collateral_receipts"]].explode("collateral_receipts").dropna()
    pairs = pairs.rename(columns={"collateral_receipts": "receipt_no"}).astype({"receipt_no": str})
    out = pd.DataFrame({"loan_id": loans["loan_id"].to_numpy()})
    found = pd.DataFrame(columns=["loan_id", "receipt_no", "value", "record_id", "leaf_hash"])
    if len(pairs):
        history = receipt_status(read_verified, lake_uri, sorted(set(pairs["receipt_no"])), as_of)
        latest = history.drop_duplicates("receipt_no", keep="last")
        latest = latest[(latest["status"] == "pledged") & (latest["pledgee"] == bank_name)]
        latest = latest.rename(columns={"value_fen": "value"})
        found = pairs.merge(latest[["receipt_no", "value", "record_id", "leaf_hash"]], on="receipt_no")
    grouped = found.sort_values(["loan_id", "receipt_no"]).groupby("loan_id")
    out["collateral_value_fen"] = out["loan_id"].map(grouped["value"].sum()).fillna(0).round().astype("int64")
    for column, source in (
        ("collateral_receipts_pledged", "receipt_no"),
        ("collateral_record_ids", "record_id"),
        ("collateral_leaf_hashes", "leaf_hash"),
    ):
        lists = grouped[source].agg(lambda s: [str(v) for v in s])
        out[column] = [lists.get(k, []) for k in out["loan_id"]]
    return out
