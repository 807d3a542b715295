"""The on-chain side of the world, month by month: health, payroll, trade, receipts, leases.

Everything drawn for month ``t`` comes from generators seeded by ``(seed, stream, t)``, and
uses only the state left by months before ``t``: a longer world repeats a shorter one
exactly, and records dated or sealed after the horizon simply wait in the outbox.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np

from pipelines.simulate.config import INDUSTRIES, WorldConfig
from pipelines.simulate.population import Population, rng_for

# Stream numbers of the per-month generators.
S_HEALTH, S_PAYROLL, S_TRADE, S_ASSETS, S_SEAL, S_FRAUD = 10, 11, 12, 13, 14, 15
SI_RATE, HF_RATE, VAT = 0.30, 0.10, 0.13
SEASON = np.array([0.8, 0.7, 1.0, 1.0, 1.0, 1.05, 1.0, 1.0, 1.05, 1.1, 1.15, 1.2])
GOODS = {
    "manufacturing": ("steel coil", "t"),
    "wholesale": ("packaged rice", "t"),
    "retail": ("appliances", "unit"),
    "logistics": ("diesel", "t"),
    "construction": ("cement", "t"),
    "food": ("frozen pork", "t"),
    "textiles": ("cotton yarn", "t"),
    "electronics": ("copper clad laminate", "sheet"),
}


@lru_cache(maxsize=8192)
def day_str(ordinal: int) -> str:
    """ISO date of a proleptic ordinal."""
    return date.fromordinal(ordinal).isoformat()


def timestamp(ordinal: int, second: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for a day and a second of that day."""
    return f"{day_str(ordinal)}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def month_start(cfg: WorldConfig, t: int) -> date:
    """First day of month ``t`` of the world."""
    y, m = divmod(cfg.start.month - 1 + t, 12)
    return date(cfg.start.year + y, m + 1, 1)


def month_days(cfg: WorldConfig, t: int) -> tuple[int, int]:
    """Ordinals of the first and last day of month ``t``."""
    first = month_start(cfg, t)
    return first.toordinal(), first.toordinal() + calendar.monthrange(first.year, first.month)[1] - 1


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


@dataclass
class Outbox:
    """Records waiting for the block of their seal day."""

    pending: dict[int, list[tuple[str, str, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, seal_day: int, event_time: str, record: dict[str, Any]) -> None:
        self.pending[seal_day].append((event_time, record["record_id"], record))

    def take(self, day: int) -> list[dict[str, Any]]:
        """The records sealed on ``day``, in a deterministic order."""
        items = self.pending.pop(day, [])
        items.sort(key=lambda x: (x[0], x[1]))
        return [rec for _, _, rec in items]


@dataclass
class Receipt:
    firm: int
    status: str
    pledgee: str | None
    body: dict[str, Any]
    events: int = 0


@dataclass
class Invoice:
    invoice_no: str
    issued_day: int
    amount_fen: int
    paid_day: int | None
    has_waybill: bool


@dataclass
class FraudPlan:
    """What an applicant does in the months before applying (decided with the intent)."""

    firm: int
    apply_month: int
    fake_trade: bool
    inflate: bool
    inflate_factor: float


class Economy:
    """The state of the on-chain world and its monthly step."""

    def __init__(self, cfg: WorldConfig, pop: Population, outbox: Outbox) -> None:
        self.cfg, self.pop, self.out = cfg, pop, outbox
        n = pop.size_count
        rng = rng_for(cfg, 2)
        self.h = pop.mu + rng.normal(0, cfg.own_shock_sd / np.sqrt(1 - cfg.health_rho**2), n)
        self.flight_month = np.full(n, -1)
        self.receipts: dict[str, Receipt] = {}
        self.receipts_of: dict[int, set[str]] = defaultdict(set)  # firm -> its open receipts
        self.invoices: dict[int, list[Invoice]] = defaultdict(list)
        self.lease_no = [f"LS{i:07d}A" for i in range(n)]
        self.lease_end = np.zeros(n, dtype=int)
        self.lease_start = np.zeros(n, dtype=int)
        self.lease_events = np.zeros(n, dtype=int)
        self.lease_seq = np.zeros(n, dtype=int)
        self.plans: list[FraudPlan] = []
        self.truth: list[dict[str, Any]] = []
        self.ring_invoices: dict[int, list[str]] = defaultdict(list)
        self.firm_month: list[dict[str, Any]] = []  # this month's rows, drained by the writer

    # -- helpers ------------------------------------------------------------------------

    def _seal_day(self, rng: np.random.Generator, event_day: int) -> int:
        u = rng.random()
        if u < self.cfg.long_seal_lag_prob:
            return event_day + int(rng.integers(14, 121))
        return event_day + (0 if u < 0.6 else int(rng.integers(1, 4)))

    @staticmethod
    def _short_seal(rng: np.random.Generator, day: int) -> int:
        # Status records (receipts, leases) reach the chain within days: their order on the
        # chain is the order of events, so the latest available record is the current one.
        return day + int(rng.integers(0, 3))

    def _emit(
        self,
        rng: np.random.Generator,
        source: str,
        kind: str,
        firm: int,
        rid: str,
        day: int,
        body: dict[str, Any],
        seal_day: int | None = None,
    ) -> None:
        event = timestamp(day, int(rng.integers(8 * 3600, 21 * 3600)))
        record = {
            "record_id": rid,
            "source": source,
            "kind": kind,
            "firm_id": self.pop.ids[firm],
            "event_time": event,
            "body": body,
        }
        self.out.add(seal_day if seal_day is not None else self._seal_day(rng, day), event, record)

    def active_plans(self, t: int) -> list[FraudPlan]:
        """Plans whose preparation months (the 3 before applying, and that month) include ``t``."""
        return [p for p in self.plans if p.apply_month - 3 < t <= p.apply_month]

    # -- the monthly step ---------------------------------------------------------------

    def step(self, t: int) -> None:
        """Advance the world through month ``t`` and emit its records."""
        self._health(t)
        self._payroll(t)
        self._trade(t)
        self._assets(t)
        period = month_start(self.cfg, t).strftime("%Y-%m")
        self.firm_month = [
            {
                "firm_id": fid,
                "month": period,
                "health": round(float(h), 4),
                "flight_started": bool(fm == t),
                "in_flight": bool(fm >= 0),
            }
            for fid, h, fm in zip(self.pop.ids, self.h, self.flight_month, strict=True)
        ]
        horizon = month_days(self.cfg, t)[1] - 120
        for firm in list(self.invoices):
            kept = [inv for inv in self.invoices[firm] if inv.issued_day > horizon]
            if kept:
                self.invoices[firm] = kept
            else:
                del self.invoices[firm]

    def _health(self, t: int) -> None:
        cfg, pop = self.cfg, self.pop
        rng = rng_for(cfg, S_HEALTH, t)
        industry_shock = rng.normal(0, cfg.industry_shock_sd, len(INDUSTRIES))[pop.industry]
        own = rng.normal(0, cfg.own_shock_sd, pop.size_count)
        jump = rng.random(pop.size_count) < cfg.jump_prob
        self.h = pop.mu + cfg.health_rho * (self.h - pop.mu) + industry_shock + own - jump * cfg.jump_size
        fleeing = self.flight_month >= 0
        self.h[fleeing] = np.minimum(self.h[fleeing], -2.5)
        start = (self.flight_month < 0) & (self.h < -2.3) & (rng.random(pop.size_count) < cfg.flight_prob)
        self.flight_month[start] = t

    def _payroll(self, t: int) -> None:
        cfg, pop = self.cfg, self.pop
        rng = rng_for(cfg, S_PAYROLL, t)
        first, _ = month_days(cfg, t)
        period = day_str(first)[:7]
        n = pop.size_count
        true_hc = np.maximum(
            1, np.round(pop.base_headcount * np.exp(0.35 * (self.h - pop.mu) + rng.normal(0, 0.03, n)))
        )
        gone = (self.flight_month >= 0) & (self.flight_month < t)
        true_hc[gone] = np.maximum(0, np.round(true_hc[gone] * 0.25))
        si_hc = true_hc.copy()
        for plan in self.active_plans(t):
            if plan.inflate and plan.apply_month - t < 3:
                si_hc[plan.firm] = np.round(true_hc[plan.firm] * plan.inflate_factor)
        hf_noise = np.where(rng.random(n) < 0.05, rng.integers(-1, 2, n), 0)
        hf_hc = np.maximum(0, true_hc - pop.hf_unenrolled + hf_noise)
        wage = pop.wage_per_head_fen * (1 + rng.normal(0, 0.02, n))
        arrears_p = np.where(self.flight_month >= 0, 0.8, _sigmoid(-3.4 - 2.2 * self.h))
        for source, heads, rate, stream in (
            ("social_insurance", si_hc, SI_RATE, 0),
            ("housing_fund", hf_hc, HF_RATE, 1),
        ):
            arrears = rng.random(n) < arrears_p
            partial = rng.uniform(0, 0.6, n)
            seal_lag = np.where(rng.random(n) < cfg.long_seal_lag_prob, rng.integers(20, 90, n), 0)
            for i in range(n):
                if heads[i] == 0 and gone[i]:
                    continue  # a firm with nobody left files nothing
                base = int(heads[i] * wage[i])
                due = round(base * rate)
                paid = int(due * partial[i]) if arrears[i] else due
                body = {
                    "period": period,
                    "headcount": int(heads[i]),
                    "wage_base_fen": base,
                    "due_fen": due,
                    "paid_fen": paid,
                }
                prefix = "si" if stream == 0 else "hf"
                self._emit(
                    rng,
                    source,
                    "contribution",
                    i,
                    f"{prefix}-{period}-{pop.ids[i]}",
                    first + 14,
                    body,
                    seal_day=first + 19 + int(seal_lag[i]),
                )

    def _trade(self, t: int) -> None:
        cfg, pop = self.cfg, self.pop
        rng = rng_for(cfg, S_TRADE, t)
        first, last = month_days(cfg, t)
        yyyymm = day_str(first)[:7].replace("-", "")
        season = SEASON[month_start(cfg, t).month - 1]
        lam = cfg.sales_per_month * np.exp(cfg.health_volume_elasticity * self.h) * season
        lam[self.flight_month >= 0] *= 0.15
        counts = rng.poisson(lam)
        sellers = np.repeat(np.arange(pop.size_count), counts)
        m = len(sellers)
        shares = np.cumsum(pop.customer_share[sellers], axis=1)
        slot = np.minimum((rng.random(m)[:, None] > shares).sum(axis=1), shares.shape[1] - 1)
        buyers = pop.customers[sellers, slot]
        amounts = np.round(pop.sale_amount_fen[sellers] * np.exp(rng.normal(0, 0.5, m))).astype(np.int64) + 1
        order_day = first + rng.integers(0, last - first + 1, m)
        issue_day = order_day + rng.integers(0, 7, m)
        ship_day = issue_day + rng.integers(0, 4, m)
        deliver = ship_day + rng.integers(1, 6, m)
        lost = rng.random(m) < 0.02
        delay = np.round(np.exp(rng.normal(np.log(35), 0.45, m)) * (1 + 0.6 * np.maximum(0, -self.h[buyers])))
        unpaid = rng.random(m) < cfg.unpaid_base_prob + 0.25 * _sigmoid(-2.5 - 2 * self.h[buyers])
        for k in range(m):
            s, b = int(sellers[k]), int(buyers[k])
            no = f"{yyyymm}{k:07d}"
            amount = int(amounts[k])
            paid_day = None if unpaid[k] else int(issue_day[k] + delay[k])
            self._sale(
                rng,
                no,
                s,
                b,
                amount,
                int(order_day[k]),
                int(issue_day[k]),
                int(ship_day[k]),
                None if lost[k] else int(deliver[k]),
                paid_day,
            )
        for j, plan in enumerate(p for p in self.active_plans(t) if p.fake_trade):
            self._fake_invoices(rng, plan, t, j, first, last, yyyymm)
        for r, members in enumerate(pop.rings):
            if pop.ring_start[r] <= t < pop.ring_start[r] + pop.ring_months[r]:
                amount = int(rng.integers(20, 90)) * 1_000_000
                day = first + int(rng.integers(0, 20))
                for j, s in enumerate(members):
                    b = members[(j + 1) % len(members)]
                    no = f"{yyyymm}R{r:03d}{j}"
                    self._sale(rng, no, s, b, amount, day + j, day + j, day + j + 1, day + j + 3, day + j + 5)
                    self.ring_invoices[r].append(f"INV{no}")

    def _sale(
        self,
        rng: np.random.Generator,
        no: str,
        s: int,
        b: int,
        amount: int,
        order_day: int,
        issue_day: int,
        ship_day: int,
        deliver_day: int | None,
        paid_day: int | None,
    ) -> None:
        ids = self.pop.ids
        self._emit(
            rng,
            "supply_chain",
            "order",
            b,
            f"sc-order-{no}",
            order_day,
            {
                "order_no": f"PO{no}",
                "counterparty_id": ids[s],
                "direction": "purchase",
                "amount_fen": amount,
                "ordered_on": day_str(order_day),
            },
        )
        self._invoice(rng, no, s, b, amount, issue_day, has_waybill=True, paid_day=paid_day)
        event = deliver_day if deliver_day is not None else ship_day
        self._emit(
            rng,
            "supply_chain",
            "logistics",
            s,
            f"sc-waybill-{no}",
            event,
            {
                "waybill_no": f"WB{no}",
                "invoice_no": f"INV{no}",
                "counterparty_id": ids[b],
                "direction": "sale",
                "shipped_on": day_str(ship_day),
                "delivered_on": None if deliver_day is None else day_str(deliver_day),
                "weight_kg": max(1, amount // 2_000),
            },
        )
        if paid_day is not None:
            self._emit(
                rng,
                "supply_chain",
                "payment",
                b,
                f"sc-payment-{no}",
                paid_day,
                {
                    "payment_no": f"PAY{no}",
                    "invoice_no": f"INV{no}",
                    "counterparty_id": ids[s],
                    "direction": "purchase",
                    "amount_fen": amount + int(amount * VAT),
                    "paid_on": day_str(paid_day),
                },
            )

    def _invoice(
        self,
        rng: np.random.Generator,
        no: str,
        seller: int,
        buyer: int,
        amount: int,
        day: int,
        *,
        has_waybill: bool,
        paid_day: int | None,
    ) -> None:
        """A VAT invoice of the seller's, remembered so that it can be offered as a receivable."""
        body = {
            "invoice_no": f"INV{no}",
            "order_no": f"PO{no}",
            "counterparty_id": self.pop.ids[buyer],
            "direction": "sale",
            "amount_fen": amount,
            "tax_fen": int(amount * VAT),
            "issued_on": day_str(day),
        }
        self._emit(rng, "supply_chain", "invoice", seller, f"sc-invoice-{no}", day, body)
        self.invoices[seller].append(Invoice(f"INV{no}", day, amount, paid_day, has_waybill))

    def _fake_invoices(
        self, rng: np.random.Generator, plan: FraudPlan, t: int, j: int, first: int, last: int, yyyymm: str
    ) -> None:
        ids = self.pop.ids
        buyers = rng.choice(self.pop.size_count, 3, replace=False)
        numbers = []
        for k in range(int(rng.integers(2, 5))):
            b = int(buyers[k % 3]) if int(buyers[k % 3]) != plan.firm else int(buyers[(k + 1) % 3])
            no = f"{yyyymm}F{j:04d}{k}"
            day = int(rng.integers(first, last + 1))
            amount = int(rng.integers(5, 40)) * 10_000_000  # round: whole 100,000 yuan
            self._invoice(rng, no, plan.firm, b, amount, day, has_waybill=False, paid_day=None)
            numbers.append(f"INV{no}")
        self.truth.append(
            {
                "kind": "fake_trade",
                "firm_ids": [ids[plan.firm]],
                "refs": numbers,
                "start_on": day_str(first),
                "end_on": day_str(last),
            }
        )

    def _assets(self, t: int) -> None:
        cfg, pop = self.cfg, self.pop
        rng = rng_for(cfg, S_ASSETS, t)
        first, last = month_days(cfg, t)
        yyyymm = day_str(first)[:7].replace("-", "")
        # Existing receipts: goods leave, or a pledge to another bank starts or ends.
        for no in sorted(self.receipts):
            rec = self.receipts[no]
            u = rng.random()
            if rec.status == "issued" and u < 0.10:
                self.receipt_event(rng, no, "released", None, int(rng.integers(first, last + 1)))
            elif rec.status == "issued" and u < 0.14:
                self.receipt_event(
                    rng, no, "pledged", str(rng.choice(cfg.other_banks)), int(rng.integers(first, last + 1))
                )
            elif rec.status == "pledged" and rec.pledgee != cfg.bank_name and u < 0.10:
                self.receipt_event(rng, no, "issued", None, int(rng.integers(first, last + 1)))
        for k, firm in enumerate(np.flatnonzero(pop.has_warehouse & (self.flight_month < 0))):
            if rng.random() < 0.25:
                self.new_receipt(rng, int(firm), f"WR{yyyymm}{k:06d}", int(rng.integers(first, last + 1)))
        self._leases(rng, t, first, last)

    def new_receipt(self, rng: np.random.Generator, firm: int, no: str, day: int) -> None:
        """Issue a warehouse receipt for goods a firm stores."""
        goods, unit = GOODS[INDUSTRIES[self.pop.industry[firm]]]
        body = {
            "receipt_no": no,
            "warehouse_id": f"WH-{self.pop.region[firm]:02d}-{int(rng.integers(1, 9))}",
            "goods": goods,
            "quantity": int(rng.integers(20, 800)),
            "unit": unit,
            "unit_value_fen": int(rng.integers(2_000, 60_000)) * 100,
            "status": "issued",
            "pledgee": None,
        }
        self.receipts[no] = Receipt(firm, "issued", None, body)
        self.receipts_of[firm].add(no)
        self._emit(
            rng,
            "supply_chain",
            "warehouse_receipt",
            firm,
            f"sc-receipt-{no}-0",
            day,
            body,
            self._short_seal(rng, day),
        )

    def receipt_event(
        self, rng: np.random.Generator, no: str, status: str, pledgee: str | None, day: int
    ) -> None:
        """A new state of receipt ``no`` (pledged, pledge released, or goods released)."""
        rec = self.receipts[no]
        rec.status, rec.pledgee, rec.events = status, pledgee, rec.events + 1
        rec.body = {**rec.body, "status": status, "pledgee": pledgee}
        rid = f"sc-receipt-{no}-{rec.events}"
        self._emit(
            rng, "supply_chain", "warehouse_receipt", rec.firm, rid, day, rec.body, self._short_seal(rng, day)
        )
        if status == "released":
            del self.receipts[no]
            self.receipts_of[rec.firm].discard(no)

    def _leases(self, rng: np.random.Generator, t: int, first: int, last: int) -> None:
        pop = self.pop
        if t == 0:
            for i in range(pop.size_count):
                start = first - int(rng.integers(30, 1500))
                end = start + 365 * int(rng.choice([3, 5]))
                while end <= first + 30:
                    end += 365 * 3
                self._lease(rng, i, start, end, "active", first)
        for firm in np.flatnonzero((self.flight_month == t) & (self.lease_end > 0)).tolist():
            day = int(rng.integers(first, last + 1))
            lease = self.lease_no[firm]
            self._lease(rng, firm, None, day, "terminated", day)
            self.lease_end[firm] = 0
            self.truth.append(
                {
                    "kind": "empty_premises",
                    "firm_ids": [pop.ids[firm]],
                    "refs": [lease],
                    "start_on": day_str(day),
                    "end_on": day_str(last),
                }
            )
        due = np.flatnonzero((self.lease_end > 0) & (self.lease_end - 60 <= last) & (self.flight_month < 0))
        for i in due.tolist():
            if rng.random() < 0.9:
                day = max(first, int(self.lease_end[i]) - 45)
                self._lease(rng, i, None, int(self.lease_end[i]) + 365 * 3, "active", day)
            else:  # moves out at the end, into new premises
                end = int(self.lease_end[i])
                self._lease(rng, i, None, end, "terminated", end)
                self.lease_seq[i] += 1
                self.lease_no[i] = f"LS{i:07d}{chr(65 + int(self.lease_seq[i]) % 26)}"
                self._lease(rng, i, end, end + 365 * 3, "active", end)

    def _lease(
        self, rng: np.random.Generator, i: int, start: int | None, end: int, status: str, day: int
    ) -> None:
        if start is None:
            start = int(self.lease_start[i])
        self.lease_start[i] = start
        body = {
            "lease_no": self.lease_no[i],
            "premises": f"Unit {i % 97 + 1}, Industrial Park {self.pop.region[i] + 1}",
            "monthly_rent_fen": int(self.pop.base_headcount[i]) * 60_000,
            "start_on": day_str(start),
            "end_on": day_str(end),
            "status": status,
        }
        self.lease_end[i] = end if status == "active" else 0
        self.lease_events[i] += 1
        rid = f"sc-lease-{self.lease_no[i]}-{int(self.lease_events[i])}"
        self._emit(rng, "supply_chain", "lease", i, rid, day, body, self._short_seal(rng, day))

    def recent_unpaid_invoices(self, firm: int, day: int, horizon: int = 90) -> list[Invoice]:
        """A firm's sale invoices of the last ``horizon`` days that are unpaid as of ``day``."""
        keep = [inv for inv in self.invoices.get(firm, []) if inv.issued_day > day - horizon]
        self.invoices[firm] = keep
        return [inv for inv in keep if inv.issued_day <= day and (inv.paid_day is None or inv.paid_day > day)]
