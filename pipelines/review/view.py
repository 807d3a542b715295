"""What the in-loan review reads from the chain: the attested rows a batch of applications
needs (``load_view``), and each application's own slice of them (``ViewIndex``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.calendar import month_number
from pipelines.verified import read_verified

WINDOW_MONTHS = 12
"""How many sealed months before the first application day trade and contributions are read."""


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


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()  # dates as datetime.date, seal times as UTC timestamps


def load_view(
    lake_uri: str,
    firms: Sequence[str],
    receipts_offered: Sequence[str],
    first: date,
    last: date,
    thresholds: dict[str, Any],
) -> ChainView:
    """Read what the applications of ``firms`` between ``first`` and ``last`` need; the
    ``ring_*`` ``thresholds`` say which invoices are round-amount ring edges."""
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
    round_fen, min_fen = int(thresholds["ring_round_fen"]), int(thresholds["ring_min_amount_fen"])
    ring = _ring_edges(lake_uri, last, since, round_fen, min_fen)
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


def _ring_edges(lake_uri: str, last: date, since: int, round_fen: int, min_fen: int) -> pa.Table:
    """Every firm's sale and purchase invoices of at least ``min_fen`` in whole ``round_fen``."""
    ring = read_verified(
        lake_uri,
        "supply_chain",
        "invoice",
        ["firm_id", "counterparty_id", "direction", "amount_fen", "issued_on"],
        last,
        since,
        pc.field("amount_fen") >= min_fen,
    )
    whole = pc.equal(
        pc.subtract(ring["amount_fen"], pc.multiply(pc.divide(ring["amount_fen"], round_fen), round_fen)), 0
    )
    return ring.filter(whole)


def seller(frame: pd.DataFrame) -> pd.Series:
    """The selling firm of each trade row (the filer of a ``sale``, else its counterparty)."""
    return frame["firm_id"].where(frame["direction"] == "sale", frame["counterparty_id"])


def buyer(frame: pd.DataFrame) -> pd.Series:
    """The buying firm of each trade row."""
    return frame["counterparty_id"].where(frame["direction"] == "sale", frame["firm_id"])


def items(value: Any) -> list[str]:
    """A list cell (a list, an array or None) as a list of strings."""
    return [] if value is None else [str(v) for v in value]


class ViewIndex:
    """A batch's view with its rows indexed by firm and document number, so that an
    application's checks look at its own rows only (not the whole batch's)."""

    def __init__(self, view: ChainView) -> None:
        for frame in (view.invoices, view.waybills, view.payments, view.ring_edges, view.orders):
            frame["seller"] = seller(frame)
            frame["buyer"] = buyer(frame)
        self.full = view
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

    def for_application(self, app: dict[str, Any]) -> ChainView:
        """The rows of ``app``'s firm and of the receipts and invoices it offers; every firm's
        ring edges and the newest seals of each source."""
        firm = [str(app["firm_id"])]
        v = self.full
        return ChainView(
            invoices=self._rows(
                v.invoices, ("invoices_seller", firm), ("invoices_no", items(app.get("invoice_nos")))
            ),
            orders=self._rows(v.orders, ("orders", firm)),
            waybills=self._rows(v.waybills, ("waybills", firm)),
            payments=self._rows(v.payments, ("payments", firm)),
            ring_edges=v.ring_edges,
            receipts=self._rows(
                v.receipts, ("receipts_firm", firm), ("receipts_no", items(app.get("collateral_receipts")))
            ),
            si=self._rows(v.si, ("si", firm)),
            hf=self._rows(v.hf, ("hf", firm)),
            newest=v.newest,
        )
