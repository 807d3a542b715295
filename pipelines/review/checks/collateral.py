"""The collateral check, with the double-pledge check."""

from __future__ import annotations

from pipelines.review.checks.base import Case, Check
from pipelines.review.view import items


def collateral(case: Case, check: Check) -> None:
    """Does the collateral offered exist on chain, belong to the applicant and stay free?

    On the chain: the attested history of each offered warehouse receipt, in chain order.
    A receipt fails when its latest record names another firm, when it was ``released``
    (the goods left the warehouse), when it is pledged to another pledgee than this bank, or
    when it was ever pledged to two pledgees at once (the double pledge: two consecutive
    ``pledged`` records naming different pledgees); one not on chain (yet) warns, since
    attestation can lag by days. Then the value of the good receipts after the haircut
    against the loan amount: below ``min_collateral_coverage`` warns.

    Finding: per receipt what is wrong, or the coverage. Figures: ``offered``, ``value_fen``
    (quantity times unit value of the good receipts), ``coverage``; an application that
    offers none is unsecured and passes with ``offered: 0``. Evidence: every attested
    record of each offered receipt.
    """
    offered = items(case.app.get("collateral_receipts"))
    amount = float(case.app["amount_fen"])
    if not offered:
        check.figures = {"offered": 0, "coverage": 0.0}
        check.findings.append("no warehouse receipt offered (unsecured)")
        return
    rec = case.known(case.view.receipts)
    rec = rec[rec["receipt_no"].isin(offered)].sort_values(["height", "index"], kind="stable")
    value = 0.0
    for no in offered:
        history = rec[rec["receipt_no"] == no]
        if history.empty:  # attestation can lag by days: an analyst asks for it
            check.worse("warn", f"receipt {no} is not on chain (yet)")
            continue
        check.cite(history)
        latest = history.iloc[-1]
        if latest["firm_id"] != case.firm:
            check.worse("fail", f"receipt {no} belongs to {latest['firm_id']}, not the applicant")
            continue
        status, pledgee = latest["status"], latest["pledgee"]
        if status == "released":
            check.worse("fail", f"receipt {no} was released: the goods left the warehouse")
            continue
        if status == "pledged" and pledgee != case.bank:
            check.worse("fail", f"receipt {no} is pledged to {pledgee}")
            continue
        if pledged_twice(history["status"].tolist(), history["pledgee"].tolist()):
            check.worse("fail", f"receipt {no} was pledged to two pledgees at once")
            continue
        value += float(latest["quantity"]) * float(latest["unit_value_fen"])
    coverage = value * (1 - float(case.thresholds["collateral_haircut"])) / amount if amount else 0.0
    check.figures = {"offered": len(offered), "value_fen": value, "coverage": round(coverage, 4)}
    if check.result == "pass" and coverage < float(case.thresholds["min_collateral_coverage"]):
        check.worse("warn", f"collateral covers {coverage:.0%} of the loan after the haircut")


def pledged_twice(statuses: list[str], pledgees: list[str | None]) -> bool:
    """The double pledge: in a receipt's history (chain order), a ``pledged`` record followed
    by another ``pledged`` record naming a different pledgee, with no release between."""
    return any(
        a == "pledged" and b == "pledged" and p != q
        for a, b, p, q in zip(statuses, statuses[1:], pledgees, pledgees[1:], strict=False)
    )
