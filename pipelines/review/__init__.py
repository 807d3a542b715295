"""In-loan review: check what an application claims against what the chain attests, then
decide by the rule table.

Everything is judged as of the end of the application day (UTC): only records sealed by
then count. Checks (each ``pass``, ``warn`` or ``fail``, with a plain-language finding, the
figures and the evidence: record ids and leaf hashes of the attested records used):

- ``collateral``: each offered warehouse receipt is on chain, is the applicant's, its latest
  status is ``issued`` or pledged to this bank, and it was never pledged to two pledgees at
  once; value after the haircut against the loan amount (coverage);
- ``receivables``: each offered invoice is on chain with the applicant as seller, matched by
  an order and a waybill (an invoice younger than the grace period may still wait for its
  waybill), not paid, and not offered in an earlier application (double financing);
- ``trade_authenticity``: share of the last 12 months' sales without a waybill, round-amount
  share;
- ``circular_trade``: membership of a cycle in the directed graph of round-amount sale
  invoices of the last 12 months (strongly connected components, ``scipy.sparse.csgraph``);
- ``headcount``: a social-insurance headcount jump in the 3 months before applying, and the
  social-insurance against housing-fund headcount gap;
- ``data_freshness``: the newest attested record of each source is recent enough.

The decision is the first matching rule of ``rules.json`` (or ``SMECREDIT_REVIEW_RULES``).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from attestations import strict_json
from pipelines.config import Settings
from pipelines.features import read_verified, sealed_cutoff
from pipelines.features.compute import month_number
from pipelines.lake import filesystem, read_parquet_files, write_parquet
from pipelines.schemas import SOURCES

RULES = Path(__file__).with_name("rules.json")
CHECKS = ("collateral", "receivables", "trade_authenticity", "circular_trade", "headcount", "data_freshness")
RESULTS = ("pass", "warn", "fail")
WINDOW_MONTHS = 12

REVIEW_SCHEMA = pa.schema(
    [
        pa.field("application_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("applied_on", pa.date32(), nullable=False),
        pa.field("amount_fen", pa.int64(), nullable=False),
        pa.field("pd", pa.float64()),
        pa.field("grade", pa.string()),
        pa.field("decision", pa.string(), nullable=False),
        pa.field("decision_reason", pa.string(), nullable=False),
        pa.field("failed_checks", pa.list_(pa.string()), nullable=False),
        pa.field("warned_checks", pa.list_(pa.string()), nullable=False),
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
        pa.field("checks", pa.string(), nullable=False),  # JSON: per check result, finding, figures, evidence
        pa.field("evidence_records", pa.int64(), nullable=False),
        pa.field("reviewed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


class ReviewError(Exception):
    """A review cannot run (bad rule table, missing input); the message says why."""


@dataclass
class Check:
    name: str
    result: str = "pass"
    findings: list[str] = field(default_factory=list)
    evidence: list[dict[str, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def worse(self, result: str, finding: str) -> None:
        if RESULTS.index(result) > RESULTS.index(self.result):
            self.result = result
        self.findings.append(finding)

    def cite(self, rows: pd.DataFrame) -> None:
        for rid, leaf in zip(rows["record_id"], rows["leaf_hash"], strict=True):
            self.evidence.append({"record_id": str(rid), "leaf_hash": str(leaf)})

    def to_dict(self) -> dict[str, Any]:
        finding = "; ".join(self.findings) if self.findings else "nothing to report"
        unique = list({e["record_id"]: e for e in self.evidence}.values())
        return {"result": self.result, "finding": finding, "figures": self.figures, "evidence": unique}


@dataclass(frozen=True)
class Rules:
    thresholds: dict[str, Any]
    decisions: list[dict[str, Any]]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Rules:
        """The rule table at ``path`` (default: the packaged ``rules.json``).

        Raises:
            ReviewError: unreadable, or a rule that names an unknown check or decision.
        """
        where = Path(path) if path else RULES
        try:
            doc = strict_json.load_path(where)
            rules = cls(dict(doc["thresholds"]), list(doc["decisions"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReviewError(f"review rules {where} are unreadable: {exc}") from None
        for rule in rules.decisions:
            if rule.get("decision") not in ("approve", "refer", "decline"):
                raise ReviewError(f"review rules {where}: decision must be approve, refer or decline: {rule}")
            when = rule.get("when", {})
            for key in ("failed_any", "warned_any"):
                unknown = set(when.get(key, [])) - set(CHECKS)
                if unknown:
                    raise ReviewError(f"review rules {where}: unknown checks {sorted(unknown)}")
        if not any(r.get("when", {}).get("always") for r in rules.decisions):
            raise ReviewError(
                f"review rules {where}: the last rule must be 'always' so every case is decided"
            )
        return rules

    def decide(self, checks: dict[str, Check], grade: str | None) -> tuple[str, str]:
        failed = {n for n, c in checks.items() if c.result == "fail"}
        warned = {n for n, c in checks.items() if c.result == "warn"}
        for rule in self.decisions:
            when = rule.get("when", {})
            if (
                when.get("always")
                or failed & set(when.get("failed_any", []))
                or warned & set(when.get("warned_any", []))
                or (grade is not None and grade in when.get("grade_in", []))
            ):
                return str(rule["decision"]), str(rule.get("reason", ""))
        raise ReviewError("no review rule matched")  # unreachable: load() demands an 'always' rule


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()  # dates as datetime.date, seal times as UTC timestamps


@dataclass
class ChainView:
    """The attested rows a batch of applications needs, with their seal times."""

    invoices: pd.DataFrame  # the applicants' sales and the invoices they offer
    orders: pd.DataFrame
    waybills: pd.DataFrame
    payments: pd.DataFrame
    ring_edges: pd.DataFrame  # round-amount sale invoices of every firm
    receipts: pd.DataFrame
    si: pd.DataFrame
    hf: pd.DataFrame
    newest: dict[str, list[datetime]]  # per source, sorted seal times of the newest records


def load_view(
    lake_uri: str,
    firms: Sequence[str],
    receipts_offered: Sequence[str],
    first: date,
    last: date,
    rules: Rules,
) -> ChainView:
    """Read what the applications of ``firms`` between ``first`` and ``last`` need."""
    since = month_number(first) - WINDOW_MONTHS
    ids = pa.array(sorted(set(firms)), pa.string())
    mine = pc.field("firm_id").isin(ids)
    related = mine | pc.field("counterparty_id").isin(ids)
    sc = "supply_chain"
    trade_cols = ["firm_id", "counterparty_id", "direction", "invoice_no"]
    invoices = read_verified(
        lake_uri, sc, "invoice", [*trade_cols, "order_no", "amount_fen", "issued_on"], last, since, related
    )
    orders = read_verified(
        lake_uri, sc, "order", ["firm_id", "counterparty_id", "direction", "order_no"], last, since, related
    )
    waybills = read_verified(lake_uri, sc, "logistics", [*trade_cols, "shipped_on"], last, since, related)
    payments = read_verified(lake_uri, sc, "payment", [*trade_cols, "paid_on"], last, since, related)
    t = rules.thresholds
    round_fen, min_fen = int(t["ring_round_fen"]), int(t["ring_min_amount_fen"])
    amount = pc.field("amount_fen")
    ring = read_verified(
        lake_uri,
        sc,
        "invoice",
        ["firm_id", "counterparty_id", "direction", "amount_fen", "issued_on"],
        last,
        since,
        amount >= min_fen,
    )
    whole = pc.equal(
        pc.subtract(ring["amount_fen"], pc.multiply(pc.divide(ring["amount_fen"], round_fen), round_fen)), 0
    )
    ring = ring.filter(whole)
    receipts = read_verified(
        lake_uri,
        sc,
        "warehouse_receipt",
        ["firm_id", "receipt_no", "status", "pledgee", "quantity", "unit_value_fen"],
        last,
        None,
        pc.field("receipt_no").isin(pa.array(sorted(set(receipts_offered)), pa.string())) | mine,
    )
    contrib = ["firm_id", "period", "headcount"]
    si = read_verified(lake_uri, "social_insurance", "contribution", contrib, last, since, mine)
    hf = read_verified(lake_uri, "housing_fund", "contribution", contrib, last, since, mine)
    newest: dict[str, list[datetime]] = {}
    for source, kind in (
        ("supply_chain", "invoice"),
        ("social_insurance", "contribution"),
        ("housing_fund", "contribution"),
    ):
        seals = read_verified(lake_uri, source, kind, [], last, month_number(first) - 3)["sealed_at"]
        newest[source] = sorted(seals.to_pylist())
    return ChainView(
        _frame(invoices),
        _frame(orders),
        _frame(waybills),
        _frame(payments),
        _frame(ring),
        _frame(receipts),
        _frame(si),
        _frame(hf),
        newest,
    )


def _seller(frame: pd.DataFrame) -> pd.Series:
    return frame["firm_id"].where(frame["direction"] == "sale", frame["counterparty_id"])


def _buyer(frame: pd.DataFrame) -> pd.Series:
    return frame["counterparty_id"].where(frame["direction"] == "sale", frame["firm_id"])


class Reviewer:
    def __init__(self, view: ChainView, rules: Rules, bank_name: str) -> None:
        self.v, self.rules, self.t, self.bank = view, rules, rules.thresholds, bank_name
        for frame in (view.invoices, view.waybills, view.payments, view.ring_edges, view.orders):
            frame["seller"] = _seller(frame)
            frame["buyer"] = _buyer(frame)
        self.full = view
        # Row positions per firm and per document number, so that an application's checks
        # look at its own rows only (not the whole batch's).
        self.by = {
            "invoices_seller": view.invoices.groupby("seller").indices,
            "invoices_no": view.invoices.groupby("invoice_no").indices,
            "waybills": view.waybills.groupby("seller").indices,
            "payments": view.payments.groupby("seller").indices,
            "orders": view.orders.groupby("seller").indices,
            "receipts_firm": view.receipts.groupby("firm_id").indices,
            "receipts_no": view.receipts.groupby("receipt_no").indices,
            "si": view.si.groupby("firm_id").indices,
            "hf": view.hf.groupby("firm_id").indices,
        }

    def _rows(self, frame: pd.DataFrame, *parts: tuple[str, Sequence[str]]) -> pd.DataFrame:
        found = [self.by[index].get(key) for index, keys in parts for key in keys]
        positions = [p for p in found if p is not None]
        if not positions:
            return frame.iloc[0:0]
        return frame.iloc[np.unique(np.concatenate(positions))]

    def _view_for(self, app: dict[str, Any]) -> ChainView:
        firm = [str(app["firm_id"])]
        v = self.full
        return ChainView(
            invoices=self._rows(
                v.invoices, ("invoices_seller", firm), ("invoices_no", _items(app.get("invoice_nos")))
            ),
            orders=self._rows(v.orders, ("orders", firm)),
            waybills=self._rows(v.waybills, ("waybills", firm)),
            payments=self._rows(v.payments, ("payments", firm)),
            ring_edges=v.ring_edges,
            receipts=self._rows(
                v.receipts, ("receipts_firm", firm), ("receipts_no", _items(app.get("collateral_receipts")))
            ),
            si=self._rows(v.si, ("si", firm)),
            hf=self._rows(v.hf, ("hf", firm)),
            newest=v.newest,
        )

    @staticmethod
    def _known(frame: pd.DataFrame, cutoff: datetime) -> pd.DataFrame:
        return frame[frame["sealed_at"] < cutoff]

    def review(self, app: dict[str, Any], earlier_offers: dict[str, str]) -> dict[str, Check]:
        day = date.fromisoformat(str(app["applied_on"])[:10])
        cutoff = sealed_cutoff(day)
        firm = str(app["firm_id"])
        self.v = self._view_for(app)
        return {
            "collateral": self.collateral(app, firm, cutoff),
            "receivables": self.receivables(app, firm, day, cutoff, earlier_offers),
            "trade_authenticity": self.trade(firm, day, cutoff),
            "circular_trade": self.ring(firm, day, cutoff),
            "headcount": self.headcount(firm, day, cutoff),
            "data_freshness": self.freshness(day, cutoff),
        }

    def collateral(self, app: dict[str, Any], firm: str, cutoff: datetime) -> Check:
        check = Check("collateral")
        offered = _items(app.get("collateral_receipts"))
        amount = float(app["amount_fen"])
        if not offered:
            check.figures = {"offered": 0, "coverage": 0.0}
            check.findings.append("no warehouse receipt offered (unsecured)")
            return check
        rec = self._known(self.v.receipts, cutoff)
        rec = rec[rec["receipt_no"].isin(offered)].sort_values(["height", "index"], kind="stable")
        value = 0.0
        for no in offered:
            history = rec[rec["receipt_no"] == no]
            if history.empty:  # attestation can lag by days: an analyst asks for it
                check.worse("warn", f"receipt {no} is not on chain (yet)")
                continue
            check.cite(history)
            latest = history.iloc[-1]
            if latest["firm_id"] != firm:
                check.worse("fail", f"receipt {no} belongs to {latest['firm_id']}, not the applicant")
                continue
            status, pledgee = latest["status"], latest["pledgee"]
            if status == "released":
                check.worse("fail", f"receipt {no} was released: the goods left the warehouse")
                continue
            if status == "pledged" and pledgee != self.bank:
                check.worse("fail", f"receipt {no} is pledged to {pledgee}")
                continue
            statuses, pledgees = history["status"].tolist(), history["pledgee"].tolist()
            twice = any(
                a == "pledged" and b == "pledged" and p != q
                for a, b, p, q in zip(statuses, statuses[1:], pledgees, pledgees[1:], strict=False)
            )
            if twice:
                check.worse("fail", f"receipt {no} was pledged to two pledgees at once")
                continue
            value += float(latest["quantity"]) * float(latest["unit_value_fen"])
        coverage = value * (1 - float(self.t["collateral_haircut"])) / amount if amount else 0.0
        check.figures = {"offered": len(offered), "value_fen": value, "coverage": round(coverage, 4)}
        if check.result == "pass" and coverage < float(self.t["min_collateral_coverage"]):
            check.worse("warn", f"collateral covers {coverage:.0%} of the loan after the haircut")
        return check

    def receivables(
        self, app: dict[str, Any], firm: str, day: date, cutoff: datetime, earlier: dict[str, str]
    ) -> Check:
        check = Check("receivables")
        offered = _items(app.get("invoice_nos"))
        check.figures = {"offered": len(offered)}
        if not offered:
            check.findings.append("no invoice offered")
            return check
        inv = self._known(self.v.invoices, cutoff)
        inv = inv[inv["invoice_no"].isin(offered)]
        bills = self._known(self.v.waybills, cutoff)
        pays = self._known(self.v.payments, cutoff)
        orders = self._known(self.v.orders, cutoff)
        grace = int(self.t["waybill_grace_days"])
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
            age = (day - row["issued_on"]).days
            missing = [what for what, rows_ in (("waybill", bill), ("order", order)) if rows_.empty]
            if len(missing) == 2 and age > grace:
                check.worse("fail", f"invoice {no} has neither waybill nor order {age} days after issue")
            elif missing:
                check.worse(
                    "warn", f"invoice {no} has no attested {' or '.join(missing)} yet ({age} days old)"
                )
            paid = pays[(pays["invoice_no"] == no) & (pays["seller"] == firm)]
            if not paid.empty:
                check.cite(paid)
                check.worse("fail", f"invoice {no} is already paid")
            if no in earlier and earlier[no] != app["application_id"]:
                check.worse("fail", f"invoice {no} was already offered in application {earlier[no]}")
        return check

    def _sales(self, firm: str, day: date, cutoff: datetime) -> pd.DataFrame:
        inv = self._known(self.v.invoices, cutoff)
        start = day - timedelta(days=365)
        return inv[(inv["seller"] == firm) & (inv["issued_on"] > start) & (inv["issued_on"] <= day)]

    def trade(self, firm: str, day: date, cutoff: datetime) -> Check:
        check = Check("trade_authenticity")
        sales = self._sales(firm, day, cutoff)
        grace = int(self.t["waybill_grace_days"])
        mature = sales[sales["issued_on"] <= day - timedelta(days=grace)]
        bills = self._known(self.v.waybills, cutoff)
        billed = mature["invoice_no"].isin(bills.loc[bills["seller"] == firm, "invoice_no"])
        unmatched = mature[~billed.to_numpy()]
        share = len(unmatched) / len(mature) if len(mature) else 0.0
        rounded = sales[sales["amount_fen"] % int(self.t["ring_round_fen"]) == 0]
        round_share = len(rounded) / len(sales) if len(sales) else 0.0
        check.figures = {
            "sales_12m": len(sales),
            "without_waybill_share": round(share, 4),
            "round_amount_share": round(round_share, 4),
        }
        check.cite(unmatched)
        check.cite(rounded)
        if share > float(self.t["unmatched_sales_fail"]):
            check.worse("fail", f"{share:.0%} of the last year's sales have no waybill")
        elif share > float(self.t["unmatched_sales_warn"]):
            check.worse("warn", f"{share:.0%} of the last year's sales have no waybill")
        if round_share > float(self.t["round_amount_warn"]):
            check.worse("warn", f"{round_share:.0%} of the last year's sales are round amounts")
        return check

    def ring(self, firm: str, day: date, cutoff: datetime) -> Check:
        check = Check("circular_trade")
        edges = self._known(self.v.ring_edges, cutoff)
        edges = edges[(edges["issued_on"] > day - timedelta(days=365)) & (edges["issued_on"] <= day)]
        if firm not in set(edges["seller"]) or edges.empty:
            check.figures = {"ring_size": 0}
            return check
        nodes = pd.Index(pd.unique(pd.concat([edges["seller"], edges["buyer"]], ignore_index=True)))
        src, dst = nodes.get_indexer(edges["seller"]), nodes.get_indexer(edges["buyer"])
        graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(len(nodes), len(nodes))).tocsr()
        _, label = connected_components(graph, directed=True, connection="strong")
        mine = label[nodes.get_loc(firm)]
        members = set(nodes[label == mine])
        check.figures = {"ring_size": len(members) if len(members) > 1 else 0}
        if len(members) > 1:
            cycle = edges[edges["seller"].isin(members) & edges["buyer"].isin(members)]
            check.cite(cycle)
            check.figures["ring_members"] = sorted(members)
            check.figures["ring_value_fen"] = int(cycle["amount_fen"].sum())
            check.worse(
                "fail",
                f"the applicant trades in a cycle of {len(members)} firms by round-amount invoices "
                f"({len(cycle)} invoices in 12 months)",
            )
        return check

    def headcount(self, firm: str, day: date, cutoff: datetime) -> Check:
        check = Check("headcount")
        heads = {}
        for name, frame in (("si", self.v.si), ("hf", self.v.hf)):
            rows = self._known(frame, cutoff)
            rows = rows[rows["firm_id"] == firm].sort_values(["period", "height", "index"], kind="stable")
            rows = rows.drop_duplicates("period", keep="last")
            heads[name] = rows
        si, hf = heads["si"], heads["hf"]
        if si.empty:
            check.figures = {"si_headcount": 0}
            check.findings.append("no social-insurance filing in the last year")
            return check
        now = si.iloc[-1]
        period = str(now["period"])
        figures: dict[str, Any] = {"si_headcount": int(now["headcount"]), "period": period}
        check.cite(si.tail(4))
        si_change = _change(si, period)
        hf_change = _change(hf, period)
        jump = float(self.t["headcount_jump"])
        if si_change is not None:
            base, change = si_change
            figures["si_change_3m"] = round(change, 4)
            rise = int(now["headcount"]) - base
            if change >= jump and rise >= int(self.t["headcount_min_rise"]):
                if hf_change is None or change - hf_change[1] >= jump:
                    seen = "not" if hf_change is None else f"only {hf_change[1]:.0%}"
                    check.worse(
                        "fail",
                        f"social-insurance headcount rose {change:.0%} in 3 months ({base} to "
                        f"{now['headcount']}); the housing fund shows {seen}",
                    )
                else:
                    check.findings.append(f"headcount rose {change:.0%} in 3 months, in both funds")
        same = hf[hf["period"] == period]
        if not same.empty:
            check.cite(same)
            gap = (int(now["headcount"]) - int(same.iloc[-1]["headcount"])) / max(int(now["headcount"]), 1)
            figures["si_hf_gap"] = round(gap, 4)
            if gap > float(self.t["headcount_gap"]):
                check.worse("warn", f"housing fund covers {1 - gap:.0%} of the social-insurance headcount")
        check.figures = figures
        return check

    def freshness(self, day: date, cutoff: datetime) -> Check:
        check = Check("data_freshness")
        limits = self.t["freshness_days"]
        for source in SOURCES:
            seals = self.v.newest.get(source, [])
            at = bisect.bisect_left(seals, cutoff)
            newest = seals[at - 1] if at else None
            if newest is None:
                check.worse("fail", f"no {source} record sealed in the last months")
                continue
            age = (cutoff - newest).total_seconds() / 86400
            check.figures[f"{source}_age_days"] = round(age, 2)
            if age > float(limits[source]):
                check.worse("fail", f"newest {source} record is {age:.0f} days old")
        return check


def _change(filings: pd.DataFrame, period: str) -> tuple[int, float] | None:
    """(headcount 3 months before ``period``, relative change since), from the newest filing
    on or before that month; None without one."""
    now = filings[filings["period"] == period]
    before = filings[filings["period"] <= _shift_period(period, -3)]
    if now.empty or before.empty:
        return None
    base = int(before.iloc[-1]["headcount"])
    return base, (int(now.iloc[-1]["headcount"]) - base) / max(base, 1)


def _items(value: Any) -> list[str]:
    """A list cell (a list, an array or None) as a list of strings."""
    return [] if value is None else [str(v) for v in value]


def _shift_period(period: str, months: int) -> str:
    n = int(period[:4]) * 12 + int(period[5:7]) - 1 + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def review_uri(lake_uri: str, day: date) -> str:
    return f"{lake_uri.rstrip('/')}/reviews/in_loan/applied_on={day.isoformat()}/part-0.parquet"


def review_days(
    lake_uri: str,
    applications: pd.DataFrame,
    scores: pd.DataFrame,
    days: Sequence[date],
    rules: Rules,
    bank_name: str,
) -> dict[date, int]:
    """Review the scored applications of each of ``days`` and (re)write each day's partition."""
    apps = applications.copy()
    apps["day"] = [date.fromisoformat(str(d)[:10]) for d in apps["applied_on"]]
    scored = apps.merge(scores[["application_id", "pd", "grade"]], on="application_id", how="inner")
    wanted = scored[scored["day"].isin(set(days))]
    counts: dict[date, int] = {}
    if not wanted.empty:
        offered = [r for rs in wanted["collateral_receipts"] for r in _items(rs)]
        view = load_view(lake_uri, wanted["firm_id"].tolist(), offered, min(days), max(days), rules)
        reviewer = Reviewer(view, rules, bank_name)
    earlier = _offers_before(apps)
    for day in sorted(days):
        todays = wanted[wanted["day"] == day].sort_values("application_id")
        uri = review_uri(lake_uri, day)
        fs, path = filesystem(uri)
        if todays.empty:
            if fs.exists(path):
                fs.rm(path)
            counts[day] = 0
            continue
        rows = []
        for app in todays.to_dict("records"):
            checks = reviewer.review(app, earlier.get(app["application_id"], {}))
            decision, why = rules.decide(checks, app.get("grade"))
            detail = {n: c.to_dict() for n, c in checks.items()}
            rows.append(
                {
                    "application_id": str(app["application_id"]),
                    "firm_id": str(app["firm_id"]),
                    "applied_on": day,
                    "amount_fen": int(app["amount_fen"]),
                    "pd": float(app["pd"]),
                    "grade": str(app["grade"]),
                    "decision": decision,
                    "decision_reason": why,
                    "failed_checks": [n for n, c in checks.items() if c.result == "fail"],
                    "warned_checks": [n for n, c in checks.items() if c.result == "warn"],
                    "reasons": [
                        f"{n}: {f}" for n, c in checks.items() if c.result != "pass" for f in c.findings
                    ],
                    "checks": json.dumps(detail, sort_keys=True, default=str),
                    "evidence_records": sum(len(d["evidence"]) for d in detail.values()),
                    "reviewed_at": datetime.now(UTC),
                }
            )
        table = pa.Table.from_pylist(rows, schema=REVIEW_SCHEMA)
        write_parquet(uri, table)
        counts[day] = len(rows)
    return counts


def _offers_before(apps: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Per application, the invoices offered by earlier applications (by application date,
    then id) and which application offered each first."""
    ordered = apps.sort_values(["day", "application_id"], kind="stable")
    seen: dict[str, str] = {}
    out: dict[str, dict[str, str]] = {}
    for app_id, invoices in zip(ordered["application_id"], ordered["invoice_nos"], strict=True):
        nos = _items(invoices)
        out[str(app_id)] = {n: seen[n] for n in nos if n in seen}
        for n in nos:
            seen.setdefault(n, str(app_id))
    return out


def read_reviews(lake_uri: str) -> pd.DataFrame:
    """Every in-loan review in the lake (empty with the schema's columns when none)."""
    table = read_parquet_files(
        f"{lake_uri.rstrip('/')}/reviews/in_loan", "applied_on=*/part-0.parquet", REVIEW_SCHEMA
    )
    return table.to_pandas()


def run(settings: Settings, days: Sequence[str]) -> dict[str, int]:
    """Review ``days`` (ISO dates) with the settings' lake and bank books; the decisions per
    day and in total, for the task's log and XCom."""
    from pipelines.scoring import read_bank, read_scores

    rules = Rules.load(settings.review_rules or None)
    apps = read_bank(settings.bank_uri, "applications")
    wanted = [date.fromisoformat(d) for d in days]
    counts = review_days(
        settings.lake_uri, apps, read_scores(settings.lake_uri), wanted, rules, settings.bank_name
    )
    return {"days": len(counts), "reviewed": sum(counts.values())}
