"""The day's digest for each risk manager: the new and escalated alerts, grouped by loan,
critical first, as a person reads them.

Each message has a plain-text body and an HTML body (a simple layout that wraps in any mail
client), and for the webhook a JSON body (``schema_version`` ``WEBHOOK_SCHEMA_VERSION``)
that carries the same text. For every loan: the borrower, the balance in yuan, days past due
and its manager; for every alert: the rule's sentence with the loan's figure and the
threshold, the rule's next step from the catalogue, its evidence (record ids and leaf hashes,
the feature row's hash, or the books), and the command that acknowledges it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from pipelines import readable
from pipelines.monitor.alerts import severity_rank

WEBHOOK_SCHEMA_VERSION = 1
"""The version of the webhook's JSON body; it changes when a field changes meaning or goes."""
EVIDENCE_SHOWN = 5
"""Evidence records a digest lists per alert; the alert table (``smecredit alerts --show``)
holds them all."""

Event = tuple[dict[str, Any], str]
"""An alert row and what happened to it today (``new`` or ``escalated``)."""


@dataclass(frozen=True)
class Recipient:
    manager_id: str
    name: str
    email: str


@dataclass(frozen=True)
class LoanGroup:
    """One loan of a digest with its alerts, most severe first."""

    loan: dict[str, Any]
    """The loan's row of the day's active loans (balance, days past due, borrower)."""
    alerts: list[Event] = field(default_factory=list)

    @property
    def worst(self) -> int:
        return max(severity_rank(a["severity"]) for a, _ in self.alerts)


def ack_command(alert_id: str, who: str) -> str:
    """The exact command that acknowledges ``alert_id`` in the name of ``who``."""
    return f'smecredit alerts --ack {alert_id} --by "{who}" --note "what you did"'


def groups(events: Sequence[Event], loans: pd.DataFrame) -> list[LoanGroup]:
    """``events`` by loan: loans with a critical alert first, then by balance, largest first."""
    rows = {str(r["loan_id"]): r for r in loans.to_dict("records")} if len(loans) else {}
    by_loan: dict[str, LoanGroup] = {}
    for alert, event in events:
        loan = str(alert["loan_id"])
        fallback = {"loan_id": loan, "firm_id": alert["firm_id"]}
        by_loan.setdefault(loan, LoanGroup(rows.get(loan, fallback))).alerts.append((alert, event))
    for g in by_loan.values():
        g.alerts.sort(key=lambda x: (-severity_rank(x[0]["severity"]), x[0]["rule"]))
    return sorted(
        by_loan.values(),
        key=lambda g: (-g.worst, -int(g.loan.get("balance_fen") or 0), str(g.loan["loan_id"])),
    )


def borrower(loan: dict[str, Any]) -> str:
    """The borrower's id with what the books say of it (industry, region)."""
    about = [str(loan[k]) for k in ("industry", "region") if pd.notna(loan.get(k)) and loan.get(k)]
    return f"{loan['firm_id']} ({', '.join(about)})" if about else str(loan["firm_id"])


def loan_facts(loan: dict[str, Any], manager: str) -> list[tuple[str, str]]:
    """(label, value) lines that head a loan's alerts."""
    facts = [("Borrower", borrower(loan))]
    if pd.notna(loan.get("balance_fen")):
        lent = ""
        if pd.notna(loan.get("amount_fen")):
            lent = f" of {readable.money(loan['amount_fen'])} lent"
            lent += f" on {loan['disbursed_on']}" if loan.get("disbursed_on") else ""
        facts.append(("Balance", readable.money(loan["balance_fen"]) + lent))
    if pd.notna(loan.get("dpd")):
        at = f" at the {loan['month_end']} month end" if pd.notna(loan.get("month_end")) else ""
        facts.append(("Past due", readable.count(int(loan["dpd"]), "day") + at))
    facts.append(("Manager", manager))
    return facts


def evidence_lines(
    evidence: list[dict[str, Any]], alert_id: str, shown: int = EVIDENCE_SHOWN
) -> tuple[str, list[tuple[str, str]]]:
    """A heading for an alert's evidence and its (label, hash) pairs, at most ``shown``."""
    records = [e for e in evidence if "record_id" in e]
    if records:
        more = len(records) - shown
        head = f"{readable.count(len(records), 'attested record')} (record id, leaf hash)"
        if more > 0:
            head += f"; {more} more with: smecredit alerts --show {alert_id}"
        return head, [(str(e["record_id"]), str(e["leaf_hash"])) for e in records[:shown]]
    if evidence and "feature_input_hash" in evidence[0]:
        return "the day's feature row", [("feature row hash", str(evidence[0]["feature_input_hash"]))]
    if evidence and "bank_books" in evidence[0]:
        return "the bank's books", [("table", f"{evidence[0]['bank_books']}, loan {evidence[0]['loan_id']}")]
    return "none recorded", []


@dataclass(frozen=True)
class Digest:
    """One risk manager's digest of a day."""

    recipient: Recipient
    day: date
    loans: list[LoanGroup]
    next_steps: dict[str, str]

    @property
    def alerts(self) -> list[Event]:
        return [e for g in self.loans for e in g.alerts]

    @property
    def subject(self) -> str:
        critical = sum(1 for a, _ in self.alerts if a["severity"] == "critical")
        return (
            f"[smecredit] {self.day.isoformat()}: {readable.count(len(self.loans), 'loan')} to look at, "
            f"{readable.count(len(self.alerts), 'alert')} ({critical} critical), for {self.recipient.name}"
        )

    def summary(self) -> str:
        critical = sum(1 for g in self.loans if g.worst == severity_rank("critical"))
        return (
            f"{readable.count(len(self.loans), 'loan')} with new or escalated alerts today; "
            f"{critical} with a critical alert come first and need a call today."
        )

    def text(self) -> str:
        """The plain-text body: short lines, one block per loan."""
        out = [f"Early-warning digest for {self.recipient.name}, {self.day.isoformat()}", self.summary(), ""]
        for n, g in enumerate(self.loans, 1):
            top = max(g.alerts, key=lambda x: severity_rank(x[0]["severity"]))[0]["severity"]
            out.append(f"{n}. Loan {g.loan['loan_id']} - {top.upper()}")
            out += [
                f"   {label + ':':<10}{value}" for label, value in loan_facts(g.loan, self.recipient.name)
            ]
            for a, event in g.alerts:
                out += ["", f"   [{a['severity'].upper()}, {event}] {a['rule']} (alert {a['alert_id']})"]
                out.append(f"   {a['description']}.")
                out.append(f"   Next step: {self.next_steps.get(a['rule'], 'see the rule catalogue')}")
                head, items = evidence_lines(json.loads(a["evidence"]), a["alert_id"])
                out.append(f"   Evidence: {head}")
                out += [f"     {label}\n       {value}" for label, value in items]
                out.append(f"   Acknowledge: {ack_command(a['alert_id'], self.recipient.name)}")
            out.append("")
        out.append(
            "Acknowledging records who and when (and your note) in the alert's history; an alert "
            "that escalates later needs a new acknowledgement. smecredit alerts --open lists them all."
        )
        return "\n".join(out) + "\n"

    def payload(self, key: str) -> dict[str, Any]:
        """The webhook's JSON body: the same text, and each alert's fields."""
        alerts = []
        for g in self.loans:
            for a, event in g.alerts:
                alerts.append(
                    {
                        "alert_id": a["alert_id"],
                        "event": event,
                        "loan_id": a["loan_id"],
                        "firm_id": a["firm_id"],
                        "rule": a["rule"],
                        "severity": a["severity"],
                        "sentence": a["description"],
                        "next_step": self.next_steps.get(a["rule"], ""),
                        "balance_fen": _int_or_none(g.loan.get("balance_fen")),
                        "dpd": _int_or_none(g.loan.get("dpd")),
                        "figures": json.loads(a["figures"]),
                        "evidence": json.loads(a["evidence"]),
                        "acknowledge": ack_command(a["alert_id"], self.recipient.name),
                    }
                )
        return {
            "schema_version": WEBHOOK_SCHEMA_VERSION,
            "manager_id": self.recipient.manager_id,
            "manager_name": self.recipient.name,
            "day": self.day.isoformat(),
            "idempotency_key": key,
            "subject": self.subject,
            "text": self.text(),
            "alerts": alerts,
        }


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None and pd.notna(value) else None
