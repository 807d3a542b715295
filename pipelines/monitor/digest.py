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
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from pipelines import readable
from pipelines.monitor.alerts import severity_rank

WEBHOOK_SCHEMA_VERSION = 1
"""The version of the webhook's JSON body; it changes when a field changes meaning or goes."""
EVIDENCE_SHOWN = 3
"""Evidence records a digest lists per alert; the alert table (``smecredit alerts --show``)
holds them all."""

FOOTER = (
    "To acknowledge, run the alert's command; add --note TEXT to record what you did. Every "
    "acknowledgement is kept (who, when, note); an alert that escalates later needs a new one. "
    "smecredit alerts --open lists the open alerts, smecredit alerts --show ID one in full."
)
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
    """The exact command that acknowledges ``alert_id`` in the name of ``who`` (``--note TEXT``
    may follow: what was done)."""
    return f'smecredit alerts --ack {alert_id} --by "{who}"'


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
        due = readable.count(int(loan["dpd"]), "day") if int(loan["dpd"]) else "none"
        facts.append(("Past due", due + at))
    facts.append(("Manager", manager))
    return facts


@dataclass(frozen=True)
class Evidence:
    """How an alert's evidence reads: a heading, (label, hash) pairs, and what was left out."""

    head: str
    items: list[tuple[str, str]]
    more: str = ""


def evidence_lines(evidence: list[dict[str, Any]], alert_id: str, shown: int = EVIDENCE_SHOWN) -> Evidence:
    """An alert's evidence: its attested records (at most ``shown``, newest first), the
    feature row's hash, or the bank's books."""
    records = [e for e in evidence if "record_id" in e]
    if records:
        left = len(records) - shown
        more = f"the other {left}: smecredit alerts --show {alert_id}" if left > 0 else ""
        head = f"{readable.count(len(records), 'attested record')}, newest first (record id, leaf hash)"
        return Evidence(head, [(str(e["record_id"]), str(e["leaf_hash"])) for e in records[:shown]], more)
    first = evidence[0] if evidence else {}
    if "feature_input_hash" in first:
        return Evidence("the day's feature row", [("feature row hash", str(first["feature_input_hash"]))])
    if "bank_books" in first:
        return Evidence(f"the bank's books ({first['bank_books']} of loan {first['loan_id']})", [])
    return Evidence("none recorded", [])


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
        loans = f"{readable.count(len(self.loans), 'loan')} with new or escalated alerts today"
        if not critical:
            return f"{loans}; none is critical."
        first = "it comes" if critical == 1 else "they come"
        return f"{loans}; {critical} with a critical alert: {first} first and need a call today."

    def calls(self) -> list[str]:
        """One line per loan with a critical alert, in the digest's order: the loans to call
        today, with balance, days past due and the critical rules."""
        out = []
        for n, g in enumerate(self.loans, 1):
            rules = [a["rule"] for a, _ in g.alerts if a["severity"] == "critical"]
            if not rules:
                break
            balance = readable.money(g.loan.get("balance_fen")) if pd.notna(g.loan.get("balance_fen")) else ""
            dpd = int(g.loan["dpd"]) if pd.notna(g.loan.get("dpd")) else 0
            facts = ", ".join(x for x in (balance, f"{dpd} days past due" if dpd else "") if x)
            about = f" ({facts})" if facts else ""
            out.append(f"{n}. {g.loan['loan_id']}{about}: {', '.join(rules)}")
        return out

    def text(self) -> str:
        """The plain-text body: short lines, the loans to call first, then one block per loan."""
        out = [f"Early-warning digest for {self.recipient.name}, {self.day.isoformat()}"]
        out += [textwrap.fill(self.summary(), 78), ""]
        if self.calls():
            out += ["Call today:", *(f"  {line}" for line in self.calls()), ""]
        for n, g in enumerate(self.loans, 1):
            top = max(g.alerts, key=lambda x: severity_rank(x[0]["severity"]))[0]["severity"]
            out.append(f"{n}. Loan {g.loan['loan_id']} - {top.upper()}")
            out += [
                f"   {label + ':':<10}{value}" for label, value in loan_facts(g.loan, self.recipient.name)
            ]
            for a, event in g.alerts:
                out += ["", f"   [{a['severity'].upper()}, {event}] {a['rule']} (alert {a['alert_id']})"]
                out.append(_wrap(f"{a['description']}."))
                out.append(_wrap(f"Next step: {self.next_steps.get(a['rule'], 'see the rule catalogue')}"))
                ev = evidence_lines(json.loads(a["evidence"]), a["alert_id"])
                out.append(f"   Evidence: {ev.head}")
                out += [f"     {label}\n       {value}" for label, value in ev.items]
                out += [f"     {ev.more}"] if ev.more else []
                out.append(f"   Acknowledge: {ack_command(a['alert_id'], self.recipient.name)}")
            out.append("")
        out.append(textwrap.fill(FOOTER, 78, break_on_hyphens=False))
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


def _wrap(text: str) -> str:
    """A paragraph of the text body, indented under its alert, in lines of at most 78."""
    return textwrap.fill(text, 78, initial_indent="   ", subsequent_indent="   ", break_on_hyphens=False)


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None and pd.notna(value) else None
