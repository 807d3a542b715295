"""The rule on pledged collateral, and what it reads: each receipt's latest status on chain."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from pipelines import readable
from pipelines.monitor.rules.registry import Condition, Context, Cover, rule
from pipelines.receipts import receipt_status as receipt_status  # re-exported for the monitor

PLEDGE_GRACE_DAYS = 30
"""Days after disbursement within which an offered receipt not yet pledged on the chain is
pending rather than lost (the rule's ``grace_days`` overrides it)."""


def _coverage_says(f: dict[str, Any], spec: dict[str, Any]) -> str:
    gone = list(f["receipts_gone"])
    named = ", ".join(gone[:3]) + (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
    return (
        f"Pledged receipts now cover {f['coverage']:.2f} times the balance of "
        f"{readable.money(f['balance_fen'])} after the {readable.line(f['haircut'])} haircut "
        f"({readable.money(f['pledged_value_fen'])} still pledged), under the "
        f"{float(spec['threshold']):.2f} times line; {readable.count(len(gone), 'receipt')} released, "
        f"re-pledged or never pledged on the chain: {named}"
    )


@rule("collateral_coverage", hysteresis=False, says=_coverage_says)
def collateral_coverage(row: Any, ctx: Context) -> Condition | None:
    """Critical when receipts pledged to the bank are gone (released, re-pledged, or never
    pledged on chain within the grace days) and what stays pledged covers, after the
    haircut, less than the threshold times the balance. Evidence: the offered receipts."""
    if row.loan_id not in ctx.cover or not row.balance_fen > 0:
        return None
    value, offered, lost = ctx.cover[row.loan_id]
    coverage_ = value * (1 - ctx.haircut) / max(float(row.balance_fen), 1.0)
    if not (lost and coverage_ < float(ctx.specs["collateral_coverage"]["threshold"])):
        return None
    figures = {
        "coverage": coverage_,
        "receipts_gone": lost,
        "balance_fen": int(row.balance_fen),
        "pledged_value_fen": round(value),
        "haircut": ctx.haircut,
    }
    evidence = "receipts:" + ",".join(offered)
    return ctx.hit(row, "collateral_coverage", coverage_, figures, evidence, severity="critical")


def coverage(
    loans: pd.DataFrame, receipts: pd.DataFrame, bank: str, day: date, grace_days: int = PLEDGE_GRACE_DAYS
) -> Cover:
    """Per loan with collateral: the value of its offered receipts pledged to ``bank`` now
    (latest status of each receipt), the receipts offered, and those lost.

    A receipt is lost when it was pledged to the bank on the chain and no longer is, or when
    its pledge never reached the chain within ``grace_days`` of disbursement. A pledge
    is often sealed a few days after the loan is booked; until then the receipt is pending,
    not lost, so a new loan does not raise a collateral alert that the next run resolves.
    """
    pairs = loans[["loan_id", "collateral_receipts", "disbursed_on"]].explode("collateral_receipts").dropna()
    if not len(pairs):
        return {}
    pairs = pairs.assign(receipt_no=pairs["collateral_receipts"].astype(str))
    latest = receipts.drop_duplicates("receipt_no", keep="last")[
        ["receipt_no", "status", "pledgee", "value_fen"]
    ]
    m = pairs.merge(latest, on="receipt_no", how="left")
    ours = (m["status"] == "pledged") & (m["pledgee"] == bank)
    ever = receipts.loc[(receipts["status"] == "pledged") & (receipts["pledgee"] == bank), "receipt_no"]
    disbursed = pd.to_datetime(m["disbursed_on"].astype(str))
    grace_over = disbursed + pd.Timedelta(days=grace_days) <= pd.Timestamp(day)
    gone = ~ours & (m["receipt_no"].isin(set(ever)) | grace_over)
    value = m["value_fen"].where(ours, 0.0).groupby(m["loan_id"]).sum()
    offered = m.groupby("loan_id")["receipt_no"].agg(list)
    lost = m[gone].groupby("loan_id")["receipt_no"].agg(list)
    return {str(k): (float(value[k]), offered[k], lost.get(k, [])) for k in offered.index}
