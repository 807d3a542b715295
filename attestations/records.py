"""Record schema of spec sections 2 and 7: members, kinds and bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attestations.canonical import MAX_SAFE_INTEGER
from attestations.reasons import Reason
from attestations.timestamps import is_date, is_period, is_timestamp
from attestations.uscc import is_valid_uscc

SOURCES = ("supply_chain", "social_insurance", "housing_fund")
RECORD_MEMBERS = frozenset({"record_id", "source", "kind", "firm_id", "event_time", "body"})

Check = Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return type(v) is int and -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER


def _one_of(*allowed: str) -> Check:
    return lambda v: isinstance(v, str) and v in allowed


def _or_null(check: Check) -> Check:
    return lambda v: v is None or check(v)


_DIRECTION = _one_of("sale", "purchase")

# Body members per kind, each with the rule its value must meet.
BODIES: dict[str, dict[str, Check]] = {
    "order": {
        "order_no": _is_str,
        "counterparty_id": is_valid_uscc,
        "direction": _DIRECTION,
        "amount_fen": _is_int,
        "ordered_on": is_date,
    },
    "invoice": {
        "invoice_no": _is_str,
        "order_no": _is_str,
        "counterparty_id": is_valid_uscc,
        "direction": _DIRECTION,
        "amount_fen": _is_int,
        "tax_fen": _is_int,
        "issued_on": is_date,
    },
    "logistics": {
        "waybill_no": _is_str,
        "invoice_no": _is_str,
        "counterparty_id": is_valid_uscc,
        "direction": _DIRECTION,
        "shipped_on": is_date,
        "delivered_on": _or_null(is_date),
        "weight_kg": _is_int,
    },
    "payment": {
        "payment_no": _is_str,
        "invoice_no": _is_str,
        "counterparty_id": is_valid_uscc,
        "direction": _DIRECTION,
        "amount_fen": _is_int,
        "paid_on": is_date,
    },
    "warehouse_receipt": {
        "receipt_no": _is_str,
        "warehouse_id": _is_str,
        "goods": _is_str,
        "quantity": _is_int,
        "unit": _is_str,
        "unit_value_fen": _is_int,
        "status": _one_of("issued", "pledged", "released"),
        "pledgee": _or_null(_is_str),
    },
    "lease": {
        "lease_no": _is_str,
        "premises": _is_str,
        "monthly_rent_fen": _is_int,
        "start_on": is_date,
        "end_on": is_date,
        "status": _one_of("active", "terminated"),
    },
    "contribution": {
        "period": is_period,
        "headcount": _is_int,
        "wage_base_fen": _is_int,
        "due_fen": _is_int,
        "paid_fen": _is_int,
    },
}

KINDS: dict[str, frozenset[str]] = {
    "supply_chain": frozenset({"order", "invoice", "logistics", "payment", "warehouse_receipt", "lease"}),
    "social_insurance": frozenset({"contribution"}),
    "housing_fund": frozenset({"contribution"}),
}


def record_problem(record: Any, source: str) -> tuple[Reason, str] | None:
    """Return ``(reason, detail)`` when ``record`` breaks sections 2 and 7, else None.

    ``reason`` is ``record_invalid`` or ``firm_id_invalid`` (the latter only for a record
    that is otherwise valid, following the spec's precedence). ``source`` is the
    manifest's source, which the record's must equal.
    """
    if not isinstance(record, dict):
        return Reason.RECORD_INVALID, f"leaf is a JSON {type(record).__name__}, not an object"
    if record.keys() != RECORD_MEMBERS:
        got = sorted(record.keys() ^ RECORD_MEMBERS)
        return Reason.RECORD_INVALID, f"record members differ from the spec by {got}"
    rid = record["record_id"]
    if not isinstance(rid, str) or not 1 <= len(rid) <= 128:
        return Reason.RECORD_INVALID, "record_id must be a string of 1 to 128 characters"
    if record["source"] != source:
        return Reason.RECORD_INVALID, f"source {record['source']!r} differs from manifest {source!r}"
    kind = record["kind"]
    if not isinstance(kind, str) or kind not in KINDS.get(source, ()):
        return Reason.RECORD_INVALID, f"kind {kind!r} is not a kind of {source}"
    if not isinstance(record["firm_id"], str):
        return Reason.RECORD_INVALID, "firm_id must be a string"
    if not is_timestamp(record["event_time"]):
        return Reason.RECORD_INVALID, f"event_time {record['event_time']!r} is not an RFC 3339 UTC time"
    body = record["body"]
    rules = BODIES[kind]
    if not isinstance(body, dict) or body.keys() != rules.keys():
        return Reason.RECORD_INVALID, f"body is not an object with exactly the {kind} members"
    for member, check in rules.items():
        if not check(body[member]):
            return Reason.RECORD_INVALID, f"body.{member} = {body[member]!r} breaks its rule"
    if not is_valid_uscc(record["firm_id"]):
        return Reason.FIRM_ID_INVALID, f"firm_id {record['firm_id']!r} fails the GB 32100-2015 check"
    return None
