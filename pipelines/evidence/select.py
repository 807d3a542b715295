"""Which loans need a pack, and which attested records stand behind each.

A loan turned to default on the first month end its performance row says ``default`` (90+
days past due). Behind it stand (``ROLES``):

- ``trade``: the invoices its application offered, with their orders, waybills and payments;
- ``collateral``: the warehouse receipts offered, with their whole pledge history;
- ``contributions``: the firm's social-insurance and housing-fund filings for the periods from
  12 months before disbursement through the month of default;
- ``review`` and ``alerts``: every record the in-loan review and the loan's alerts cite.

Only records sealed by the end of the pack's as-of day count, as everywhere in the lake.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.errors import SmecreditError
from pipelines.features import read_verified
from pipelines.lake import filesystem
from pipelines.schemas import KINDS

ROLES = ("trade", "collateral", "contributions", "review", "alerts")
KEYS = ("invoice_no", "order_no", "receipt_no", "period")
"""The body members a pack's facts group records by."""
LOCATION = ("record_id", "firm_id", "event_time", "sealed_at", "height", "index", "leaf_hash", "bundle_id")


class EvidenceError(SmecreditError):
    """A pack cannot be built as the issue demands; the message says which loan and why."""


@dataclass
class Case:
    """One defaulted loan and the keys its records are found by."""

    loan_id: str
    firm_id: str
    application: dict[str, Any]
    default_on: date
    invoices: list[str]
    receipts: list[str]
    periods: tuple[str, str]
    review_ids: set[str] = field(default_factory=set)
    alert_ids: set[str] = field(default_factory=set)


def _items(value: Any) -> list[str]:
    return [] if value is None else [str(v) for v in value]


def _period(d: date, shift: int = 0) -> str:
    n = d.year * 12 + d.month - 1 + shift
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def default_dates(performance: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per loan that turned to default by ``as_of``: the month end it did, and its balance
    and days past due then (``loan_id, default_on, balance_fen, dpd``)."""
    perf = performance[performance["month_end"].astype(str) <= as_of.isoformat()]
    bad = perf[perf["status"] == "default"].sort_values("month_end", kind="stable")
    first = bad.drop_duplicates("loan_id", keep="first")
    out = first[["loan_id", "month_end", "balance_fen", "dpd"]].rename(columns={"month_end": "default_on"})
    out["default_on"] = [date.fromisoformat(str(d)[:10]) for d in out["default_on"]]
    return out.sort_values("loan_id", ignore_index=True)


def cited_ids(evidence: Any) -> set[str]:
    """The record ids in an evidence list (JSON text or list of objects)."""
    items = json.loads(evidence) if isinstance(evidence, str) else evidence
    return {str(e["record_id"]) for e in items or [] if isinstance(e, dict) and "record_id" in e}


def cases(
    applications: pd.DataFrame,
    defaults: pd.DataFrame,
    reviews: pd.DataFrame,
    alerts: pd.DataFrame,
    loan_ids: Iterable[str] | None = None,
) -> list[Case]:
    """The cases of the defaulted loans (of ``loan_ids`` when given), with the record ids
    their review and alerts cite.

    Raises:
        EvidenceError: a loan in ``loan_ids`` has not defaulted or has no application.
    """
    wanted = defaults if loan_ids is None else defaults[defaults["loan_id"].isin(set(loan_ids))]
    missing = sorted(set(loan_ids or ()) - set(wanted["loan_id"]))
    if missing:
        raise EvidenceError(f"loan {', '.join(missing)} has not turned to default in the bank's books")
    apps = applications.set_index("loan_id", drop=False)
    out = []
    for row in wanted.itertuples(index=False):
        if row.loan_id not in apps.index:
            raise EvidenceError(f"loan {row.loan_id} has no application in the bank's books")
        app = apps.loc[row.loan_id].to_dict()
        disbursed = date.fromisoformat(str(app["disbursed_on"])[:10])
        case = Case(
            loan_id=str(row.loan_id),
            firm_id=str(app["firm_id"]),
            application=app,
            default_on=row.default_on,
            invoices=_items(app.get("invoice_nos")),
            receipts=_items(app.get("collateral_receipts")),
            periods=(_period(disbursed, -12), _period(row.default_on)),
        )
        mine = reviews[reviews["application_id"] == app["application_id"]] if len(reviews) else reviews
        for checks in mine.get("checks", []):
            for check in json.loads(checks).values():
                case.review_ids |= cited_ids(check.get("evidence"))
        theirs = alerts[alerts["loan_id"] == row.loan_id] if len(alerts) else alerts
        for evidence in theirs.get("evidence", []):
            case.alert_ids |= cited_ids(evidence)
        out.append(case)
    return out


def _read(
    lake_uri: str, source: str, kind: str, columns: Sequence[str], as_of: date, where: pc.Expression
) -> pd.DataFrame:
    fs, root = filesystem(lake_uri)
    if not fs.exists(f"{root}/verified/{source}/{kind}"):
        return pd.DataFrame(columns=[*columns, *LOCATION, "__filename", "source", "kind"])
    attestation = (*LOCATION, "__filename")  # the landed file names the bundle it came from
    table = read_verified(lake_uri, source, kind, columns, as_of, None, where, attestation)
    frame: pd.DataFrame = table.to_pandas()
    frame["source"], frame["kind"] = source, kind
    return frame


def _strings(values: Iterable[str]) -> pa.Array:
    return pa.array(sorted(set(values)), pa.string())


def _trade(lake_uri: str, todo: Sequence[Case], as_of: date) -> list[pd.DataFrame]:
    """The offered invoices with their orders, waybills and payments, of either party."""
    firms = _strings(c.firm_id for c in todo)
    party = pc.field("firm_id").isin(firms) | pc.field("counterparty_id").isin(firms)
    numbers = pc.field("invoice_no").isin(_strings(n for c in todo for n in c.invoices))
    cols = ["invoice_no", "order_no", "counterparty_id"]
    invoices = _read(lake_uri, "supply_chain", "invoice", cols, as_of, party & numbers)
    by_order = pc.field("order_no").isin(_strings(invoices["order_no"]))
    orders = _read(lake_uri, "supply_chain", "order", cols[1:], as_of, party & by_order)
    linked = [
        _read(lake_uri, "supply_chain", kind, [cols[0], cols[2]], as_of, party & numbers)
        for kind in ("logistics", "payment")
    ]
    out = []
    for case in todo:
        mine = invoices[_party(invoices, case.firm_id) & invoices["invoice_no"].isin(case.invoices)]
        parts = [mine, orders[_party(orders, case.firm_id) & orders["order_no"].isin(set(mine["order_no"]))]]
        parts += [f[_party(f, case.firm_id) & f["invoice_no"].isin(case.invoices)] for f in linked]
        out.append(_tag(pd.concat(parts, ignore_index=True), case, "trade"))
    return out


def _party(frame: pd.DataFrame, firm: str) -> pd.Series:
    return (frame["firm_id"] == firm) | (frame["counterparty_id"] == firm)


def _tag(frame: pd.DataFrame, case: Case, role: str) -> pd.DataFrame:
    return frame.assign(loan_id=case.loan_id, role=role)


def _collateral(lake_uri: str, todo: Sequence[Case], as_of: date) -> list[pd.DataFrame]:
    numbers = _strings(n for c in todo for n in c.receipts)
    rows = _read(
        lake_uri,
        "supply_chain",
        "warehouse_receipt",
        ["receipt_no"],
        as_of,
        pc.field("receipt_no").isin(numbers),
    )
    return [_tag(rows[rows["receipt_no"].isin(c.receipts)], c, "collateral") for c in todo]


def _contributions(lake_uri: str, todo: Sequence[Case], as_of: date) -> list[pd.DataFrame]:
    firms = _strings(c.firm_id for c in todo)
    out = []
    for source in ("social_insurance", "housing_fund"):
        rows = _read(lake_uri, source, "contribution", ["period"], as_of, pc.field("firm_id").isin(firms))
        for c in todo:
            lo, hi = c.periods
            mine = rows[(rows["firm_id"] == c.firm_id) & (rows["period"] >= lo) & (rows["period"] <= hi)]
            out.append(_tag(mine, c, "contributions"))
    return out


def _cited(lake_uri: str, todo: Sequence[Case], as_of: date) -> list[pd.DataFrame]:
    """The records the reviews and alerts cite, looked up by id in every kind's table."""
    ids = _strings(r for c in todo for r in c.review_ids | c.alert_ids)
    if not len(ids):
        return []
    found = pd.concat(
        [
            _read(lake_uri, source, kind, [], as_of, pc.field("record_id").isin(ids))
            for source, kinds in KINDS.items()
            for kind in kinds
        ],
        ignore_index=True,
    )
    out = []
    for c in todo:
        out.append(_tag(found[found["record_id"].isin(c.review_ids)], c, "review"))
        out.append(_tag(found[found["record_id"].isin(c.alert_ids)], c, "alerts"))
    return out


def record_rows(lake_uri: str, todo: Sequence[Case], as_of: date) -> pd.DataFrame:
    """Every (loan, record, role) row behind ``todo``, read from the lake in one pass per
    table for all the cases: where each record sits on chain and which landed file holds it."""
    if not todo:
        return pd.DataFrame(columns=[*LOCATION, "__filename", "source", "kind", "loan_id", "role", *KEYS])
    parts = [
        *_trade(lake_uri, todo, as_of),
        *_collateral(lake_uri, todo, as_of),
        *_contributions(lake_uri, todo, as_of),
        *_cited(lake_uri, todo, as_of),
    ]
    keep = [*LOCATION, "__filename", "source", "kind", "loan_id", "role", *KEYS]
    filled = [p.reindex(columns=keep) for p in parts if len(p)]
    rows = pd.concat(filled, ignore_index=True) if filled else pd.DataFrame(columns=keep)
    for c in todo:
        wanted = c.review_ids | c.alert_ids
        have = set(rows.loc[rows["loan_id"] == c.loan_id, "record_id"])
        lost = sorted(wanted - have)
        if lost:
            raise EvidenceError(
                f"loan {c.loan_id}: {len(lost)} records its review or alerts cite are not in the lake "
                f"(sealed by {as_of}): {', '.join(lost[:3])}"
            )
    return rows
