"""The receivables check, with double financing."""

from __future__ import annotations

from pipelines.review.checks.base import Case, Check
from pipelines.review.view import items


def receivables(case: Case, check: Check) -> None:
    """Are the invoices offered real, undelivered-on receivables of the applicant?

    On the chain: each offered invoice with the applicant as seller, its order (by order
    number and buyer), its waybill and any payment of it. An invoice fails when another firm
    issued it, when it has neither waybill nor order more than ``waybill_grace_days`` after
    issue, when it is already paid, or when an earlier application offered it already
    (double financing); it warns when it is not on chain (yet; attestation can lag by weeks)
    or lacks one of waybill and order.

    Finding: per invoice what is wrong. Figures: ``offered``. Evidence: the invoice, its
    waybill, its order and its payment records.
    """
    offered = items(case.app.get("invoice_nos"))
    check.figures = {"offered": len(offered)}
    if not offered:
        check.findings.append("no invoice offered")
        return
    firm, v = case.firm, case.view
    inv = case.known(v.invoices)
    inv = inv[inv["invoice_no"].isin(offered)]
    bills, pays, orders = case.known(v.waybills), case.known(v.payments), case.known(v.orders)
    grace = int(case.thresholds["waybill_grace_days"])
    for no in offered:
        rows = inv[(inv["invoice_no"] == no) & (inv["seller"] == firm)]
        if rows.empty:
            other = inv[inv["invoice_no"] == no]
            if other.empty:  # attestation can lag the invoice by weeks: an analyst asks
                check.worse("warn", f"invoice {no} is not on chain (yet)")
            else:
                check.cite(other)
                check.worse("fail", f"invoice {no} was not issued by the applicant")
            continue
        check.cite(rows)
        row = rows.iloc[0]
        bill = bills[(bills["invoice_no"] == no) & (bills["seller"] == firm)]
        order = orders[(orders["order_no"] == row["order_no"]) & (orders["buyer"] == row["buyer"])]
        check.cite(bill)
        check.cite(order)
        age = (case.day - row["issued_on"]).days
        missing = [what for what, rows_ in (("waybill", bill), ("order", order)) if rows_.empty]
        if len(missing) == 2 and age > grace:
            check.worse("fail", f"invoice {no} has neither waybill nor order {age} days after issue")
        elif missing:
            check.worse("warn", f"invoice {no} has no attested {' or '.join(missing)} yet ({age} days old)")
        paid = pays[(pays["invoice_no"] == no) & (pays["seller"] == firm)]
        if not paid.empty:
            check.cite(paid)
            check.worse("fail", f"invoice {no} is already paid")
        if no in case.earlier and case.earlier[no] != case.app["application_id"]:
            check.worse("fail", f"invoice {no} was already offered in application {case.earlier[no]}")
