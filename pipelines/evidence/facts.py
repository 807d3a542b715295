"""loan.json: the bank's facts about one defaulted loan, each citing the records behind it.

Every list named ``records`` holds record ids of the pack's records.jsonl
(``attestations.evidence.cited_records`` finds them); facts the chain does not attest (the
bank's own books, model outputs) say where they come from instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from attestations.evidence import PACK_FORMAT
from pipelines.evidence.select import Case, cited_ids


@dataclass
class Books:
    """The bank's tables and the lake's derived tables a pack's facts come from."""

    applications: pd.DataFrame
    performance: pd.DataFrame
    portfolio: pd.DataFrame
    firms: pd.DataFrame
    scores: pd.DataFrame
    reviews: pd.DataFrame
    alerts: pd.DataFrame
    outbox: pd.DataFrame


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: numpy scalars and arrays unwrapped, dates as ISO
    text, NaN and NaT as null."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or (hasattr(value, "tolist") and not hasattr(value, "isoformat")):
        listed = value.tolist() if hasattr(value, "tolist") else value
        return [plain(v) for v in listed] if isinstance(listed, list) else plain(listed)
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "item"):
        return plain(value.item())
    return value


def _ids(rows: pd.DataFrame) -> list[str]:
    return sorted(set(rows["record_id"].astype(str)))


def _application(case: Case, mine: pd.DataFrame) -> dict[str, Any]:
    app = case.application
    trade = mine[mine["role"] == "trade"]
    collateral = mine[mine["role"] == "collateral"]
    invoices = []
    for no in case.invoices:
        inv = trade[(trade["kind"] == "invoice") & (trade["invoice_no"] == no)]
        orders = set(inv["order_no"].dropna())
        linked = trade[
            (trade["invoice_no"] == no) | (trade["order_no"].isin(orders) & (trade["kind"] == "order"))
        ]
        invoices.append({"invoice_no": no, "on_chain": not inv.empty, "records": _ids(linked)})
    receipts = [
        {"receipt_no": no, "records": _ids(collateral[collateral["receipt_no"] == no])}
        for no in case.receipts
    ]
    return {
        "application_id": app["application_id"],
        "applied_on": str(app["applied_on"])[:10],
        "amount_fen": int(app["amount_fen"]),
        "term_months": plain(app.get("term_months")),
        "invoices_offered": invoices,
        "receipts_offered": receipts,
        "source": "the bank's applications table",
    }


def _pre_loan(books: Books, application_id: str) -> dict[str, Any] | None:
    rows = (
        books.scores[books.scores["application_id"] == application_id] if len(books.scores) else books.scores
    )
    if rows.empty:
        return None
    row = rows.iloc[-1]
    keep = ("pd", "score", "grade", "model_id", "model_sha256", "feature_row_hash", "as_of", "scored_at")
    out = {k: plain(row[k]) for k in keep}
    out["reasons"] = [str(row[f"reason_{k}"]) for k in range(1, 5) if row.get(f"reason_{k}")]
    return out


def _review(books: Books, application_id: str) -> dict[str, Any] | None:
    rows = (
        books.reviews[books.reviews["application_id"] == application_id]
        if len(books.reviews)
        else books.reviews
    )
    if rows.empty:
        return None
    row = rows.iloc[-1]
    checks = {
        name: {
            "result": check["result"],
            "finding": check["finding"],
            "figures": plain(check.get("figures", {})),
            "records": sorted(cited_ids(check.get("evidence"))),
        }
        for name, check in json.loads(row["checks"]).items()
    }
    return {
        "decision": row["decision"],
        "decision_reason": row["decision_reason"],
        "reviewed_at": plain(row["reviewed_at"]),
        "checks": checks,
    }


def _alerts(books: Books, loan_id: str) -> list[dict[str, Any]]:
    alerts = books.alerts[books.alerts["loan_id"] == loan_id] if len(books.alerts) else books.alerts
    out = []
    for row in alerts.sort_values(["opened_on", "alert_id"]).to_dict("records"):
        evidence = json.loads(row["evidence"])
        item = {k: plain(row[k]) for k in ("alert_id", "rule", "severity", "status", "description")}
        for k in ("opened_on", "updated_on", "escalated_on", "resolved_on", "acknowledged_by"):
            item[k] = plain(row[k])
        item["figures"] = plain(json.loads(row["figures"]))
        item["records"] = sorted(cited_ids(evidence))
        item["other_evidence"] = [e for e in evidence if isinstance(e, dict) and "record_id" not in e]
        item["deliveries"] = _deliveries(books.outbox, str(row["alert_id"]))
        out.append(item)
    return out


def _deliveries(outbox: pd.DataFrame, alert_id: str) -> list[dict[str, Any]]:
    if outbox.empty:
        return []
    mine = outbox[[alert_id in list(ids) for ids in outbox["alert_ids"]]]
    keep = ("channel", "recipient", "status", "created_at", "sent_at", "message_id")
    return [{k: plain(r[k]) for k in keep} for r in mine.sort_values("created_at").to_dict("records")]


def _contributions(case: Case, mine: pd.DataFrame) -> dict[str, Any]:
    rows = mine[mine["role"] == "contributions"]
    lo, hi = case.periods
    return {
        source: {"periods": f"{lo}..{hi}", "records": _ids(rows[rows["source"] == source])}
        for source in ("social_insurance", "housing_fund")
    }


def loan_facts(case: Case, books: Books, mine: pd.DataFrame, as_of: date) -> dict[str, Any]:
    """loan.json's content for ``case``; ``mine`` holds its (record, role) rows."""
    app = case.application
    perf = books.performance[books.performance["loan_id"] == case.loan_id].sort_values("month_end")
    perf = perf[perf["month_end"].astype(str) <= as_of.isoformat()]
    at_default = perf[perf["month_end"].astype(str).str[:10] == case.default_on.isoformat()].iloc[0]
    firm = books.firms[books.firms["firm_id"] == case.firm_id]
    borrower = {
        "firm_id": case.firm_id,
        **({k: plain(v) for k, v in firm.iloc[0].items()} if len(firm) else {}),
    }
    manager = books.portfolio[books.portfolio["loan_id"] == case.loan_id]
    return {
        "format": PACK_FORMAT,
        "loan_id": case.loan_id,
        "as_of": as_of.isoformat(),
        "borrower": borrower,
        "application": _application(case, mine),
        "decision": {
            "pre_loan_score": _pre_loan(books, app["application_id"]),
            "in_loan_review": _review(books, app["application_id"]),
        },
        "disbursement": {
            "disbursed_on": str(app["disbursed_on"])[:10],
            "amount_fen": int(app["amount_fen"]),
            "manager_id": str(manager["manager_id"].iloc[-1]) if len(manager) else None,
            "source": "the bank's applications and portfolio tables",
        },
        "performance": [
            {k: plain(r[k]) for k in ("month_end", "balance_fen", "dpd", "status")}
            for r in perf.to_dict("records")
        ],
        "default": {
            "date": case.default_on.isoformat(),
            "balance_fen": int(at_default["balance_fen"]),
            "dpd": int(at_default["dpd"]),
            "outstanding_fen": int(perf.iloc[-1]["balance_fen"]),
            "rule": "first month end at 90 or more days past due (the bank's loan_performance table)",
        },
        "contributions": _contributions(case, mine),
        "alerts": _alerts(books, case.loan_id),
        "evidence": {
            role: {"records": _ids(mine[mine["role"] == role])} for role in sorted(set(mine["role"]))
        },
    }
