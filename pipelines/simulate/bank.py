"""The bank's own books, which are not on chain: applications, loans and their monthly
performance, recoveries after default, risk managers and who watches which loan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.simulate.config import REGIONS, WorldConfig
from pipelines.simulate.economy import S_FRAUD, Economy, FraudPlan, day_str, month_days
from pipelines.simulate.population import rng_for

S_INTENT, S_APPLY, S_PERFORM, S_PRICE, S_RECOVER = 20, 21, 22, 23, 24
LEAD_MONTHS = 3  # firms decide to apply this long ahead (and prepare, honestly or not)


@dataclass
class Loan:
    loan_id: str
    firm: int
    amount_fen: int
    term: int
    start_month: int
    receipts: list[str]
    rate: float = 0.0
    dpd: int = 0
    paid: int = 0
    status: str = "current"
    # after a default: the balance still owed, the month the collateral is sold, its haircut
    outstanding: int = 0
    default_month: int = -1
    sale_month: int = -1
    haircut: float = 0.0


def risk_managers(cfg: WorldConfig) -> list[dict[str, Any]]:
    """The bank's risk managers: two per region, more for large worlds."""
    per_region = max(2, cfg.firms // 3000)
    return [
        {
            "manager_id": f"RM{r:02d}{k}",
            "name": f"Risk Manager {REGIONS[r].title()} {k + 1}",
            "email": f"rm{r:02d}{k}@bank.example",
            "region": REGIONS[r],
        }
        for r in range(len(REGIONS))
        for k in range(per_region)
    ]


class Bank:
    """Decides applications, funds them, and books their monthly performance."""

    def __init__(self, cfg: WorldConfig, economy: Economy) -> None:
        self.cfg, self.eco = cfg, economy
        self.pop = economy.pop
        self.busy = np.zeros(self.pop.size_count, dtype=bool)  # an intent or a live loan
        self.loans: list[Loan] = []
        self.applications: list[dict[str, Any]] = []
        self.performance: list[dict[str, Any]] = []
        self.workouts: list[Loan] = []  # defaulted loans still being recovered
        self.recoveries: list[dict[str, Any]] = []
        self.portfolio: list[dict[str, Any]] = []
        self.managers = risk_managers(cfg)

    def plan(self, t: int) -> None:
        """Firms decide now to apply in ``t + LEAD_MONTHS``; some start preparing a fraud."""
        cfg, eco = self.cfg, self.eco
        rng = rng_for(cfg, S_INTENT, t)
        ring_member = np.zeros(self.pop.size_count, dtype=bool)
        for r, members in enumerate(self.pop.rings):
            if self.pop.ring_start[r] <= t + LEAD_MONTHS < self.pop.ring_start[r] + self.pop.ring_months[r]:
                ring_member[members] = True
        p = cfg.apply_per_firm_year / 12 * (1 + 0.6 * np.clip(-eco.h, 0, 3)) * np.where(ring_member, 4, 1)
        apply = (rng.random(len(p)) < p) & ~self.busy & (eco.flight_month < 0)
        fraud = rng_for(cfg, S_FRAUD, t)
        for firm in np.flatnonzero(apply):
            self.busy[firm] = True
            eco.plans.append(
                FraudPlan(
                    int(firm),
                    t + LEAD_MONTHS,
                    bool(fraud.random() < cfg.fake_trade_rate),
                    bool(fraud.random() < cfg.headcount_inflation_rate),
                    float(fraud.uniform(1.3, 1.9)),
                )
            )

    def apply(self, t: int) -> None:
        """Applications of month ``t`` (intents from ``t - LEAD_MONTHS``) are made and funded."""
        cfg, eco, ids = self.cfg, self.eco, self.pop.ids
        rng = rng_for(cfg, S_APPLY, t)
        price = rng_for(cfg, S_PRICE, t)
        first, last = month_days(cfg, t)
        due = [p for p in eco.plans if p.apply_month == t]
        eco.plans = [p for p in eco.plans if p.apply_month > t]
        for seq, plan in enumerate(due):
            firm = plan.firm
            if eco.flight_month[firm] >= 0:
                self.busy[firm] = False
                continue
            day = int(rng.integers(first, last - 5))
            app_id = f"APP{day_str(first)[:7].replace('-', '')}{seq:05d}"
            receipts = self._collateral(rng, firm, day, app_id, plan)
            invoices = eco.recent_unpaid_invoices(firm, day)
            fakes = [i for i in invoices if not i.has_waybill]
            offered = (fakes + [i for i in invoices if i.has_waybill])[:4]
            monthly_sales = (
                float(self.pop.sale_amount_fen[firm]) * cfg.sales_per_month * np.exp(0.45 * eco.h[firm])
            )
            amount = (
                int(np.clip(round(monthly_sales * rng.uniform(1.5, 4) / 1_000_000), 20, 1000)) * 1_000_000
            )
            term = int(rng.choice([6, 12, 12, 24]))
            loan_id = "LN" + app_id[3:]
            disbursed = day + int(rng.integers(3, 8))
            rate = round(
                cfg.base_rate
                + cfg.risk_spread * float(np.clip(-eco.h[firm], 0, 3))
                + float(price.uniform(0, cfg.rate_noise)),
                4,
            )
            self.applications.append(
                {
                    "application_id": app_id,
                    "firm_id": ids[firm],
                    "applied_on": day_str(day),
                    "amount_fen": amount,
                    "term_months": term,
                    "collateral_receipts": receipts,
                    "invoice_nos": [i.invoice_no for i in offered],
                    "loan_id": loan_id,
                    "disbursed_on": day_str(disbursed),
                    "annual_rate": rate,
                }
            )
            for no in receipts:
                eco.receipt_event(rng, no, "pledged", cfg.bank_name, disbursed)
            manager = self._manager_for(firm, rng)
            self.portfolio.append(
                {
                    "loan_id": loan_id,
                    "firm_id": ids[firm],
                    "manager_id": manager,
                    "assigned_on": day_str(disbursed),
                }
            )
            self.loans.append(Loan(loan_id, firm, amount, term, t, receipts, rate))
            if plan.inflate:
                self.eco.truth.append(
                    {
                        "kind": "headcount_inflation",
                        "firm_ids": [ids[firm]],
                        "refs": [app_id],
                        "start_on": day_str(month_days(cfg, t - 2)[0]) if t >= 2 else day_str(first),
                        "end_on": day_str(day),
                    }
                )

    def _collateral(
        self, rng: np.random.Generator, firm: int, day: int, app_id: str, plan: FraudPlan
    ) -> list[str]:
        eco, cfg = self.eco, self.cfg
        free = [no for no in sorted(eco.receipts_of.get(firm, ())) if eco.receipts[no].status == "issued"]
        if not free:
            return []
        chosen = free[: int(rng.integers(1, 4))]
        if rng.random() < cfg.double_pledge_rate:
            other = str(rng.choice(cfg.other_banks))
            no = chosen[0]
            eco.receipt_event(
                rng,
                no,
                "pledged",
                other,
                max(day - int(rng.integers(5, 40)), month_days(cfg, plan.apply_month)[0]),
            )
            eco.truth.append(
                {
                    "kind": "double_pledge",
                    "firm_ids": [eco.pop.ids[firm]],
                    "refs": [no, app_id],
                    "start_on": day_str(day),
                    "end_on": day_str(day),
                }
            )
        return chosen

    def _manager_for(self, firm: int, rng: np.random.Generator) -> str:
        region = REGIONS[int(self.pop.region[firm])]
        options = [m["manager_id"] for m in self.managers if m["region"] == region]
        return str(options[int(rng.integers(0, len(options)))])

    def perform(self, t: int) -> None:
        """Month-end performance of every live loan; defaults at 90+ days past due."""
        cfg, eco, ids = self.cfg, self.eco, self.pop.ids
        rng = rng_for(cfg, S_PERFORM, t)
        _, last = month_days(cfg, t)
        for loan in self.loans:
            if loan.status in ("default", "repaid"):
                continue
            if t > loan.start_month:
                h = eco.h[loan.firm]
                intercept = cfg.roll_intercept if loan.dpd else cfg.miss_intercept
                p_miss = 1 / (1 + np.exp(-(intercept - cfg.miss_slope * h)))
                if eco.flight_month[loan.firm] >= 0:
                    p_miss = max(p_miss, 0.85)
                if rng.random() < p_miss:
                    loan.dpd += 30
                elif loan.dpd and rng.random() < cfg.cure_prob:
                    loan.paid += loan.dpd // 30 + 1
                    loan.dpd = 0
                else:
                    loan.paid += 1 if loan.dpd == 0 else 0
                if eco.flight_month[loan.firm] == t:
                    self._collateral_leaves(rng, loan, last)
            balance = int(loan.amount_fen * max(0, loan.term - loan.paid) / loan.term)
            if loan.dpd >= 90:
                loan.status, loan.outstanding, loan.default_month = "default", balance, t
                self.workouts.append(loan)
            elif loan.paid >= loan.term and loan.dpd == 0:
                loan.status, balance = "repaid", 0
                for no in loan.receipts:
                    if no in eco.receipts and eco.receipts[no].pledgee == cfg.bank_name:
                        eco.receipt_event(rng, no, "issued", None, last)
            else:
                loan.status = "delinquent" if loan.dpd else "current"
            self.performance.append(
                {
                    "loan_id": loan.loan_id,
                    "firm_id": ids[loan.firm],
                    "month_end": day_str(last),
                    "balance_fen": balance,
                    "dpd": loan.dpd,
                    "status": loan.status,
                }
            )
            if loan.status in ("default", "repaid"):
                self.busy[loan.firm] = False

    def _collateral_leaves(self, rng: np.random.Generator, loan: Loan, day: int) -> None:
        """A firm emptying its premises takes the pledged goods out too, without repaying."""
        eco = self.eco
        gone = [
            no
            for no in loan.receipts
            if no in eco.receipts and eco.receipts[no].pledgee == self.cfg.bank_name
        ]
        for no in gone:
            eco.receipt_event(rng, no, "released", None, day)
        if gone:
            eco.truth.append(
                {
                    "kind": "collateral_released",
                    "firm_ids": [eco.pop.ids[loan.firm]],
                    "refs": [*gone, loan.loan_id],
                    "start_on": day_str(day),
                    "end_on": day_str(day),
                }
            )

    def recover(self, t: int) -> None:
        """Month ``t`` of the recoveries on defaulted loans: the goods behind receipts still
        pledged to the bank are sold (the receipt is released on the chain) at a haircut,
        then part of the unsecured remainder comes in each month, more from healthier firms;
        after ``recovery_months`` the rest is written off."""
        cfg, eco = self.cfg, self.eco
        rng = rng_for(cfg, S_RECOVER, t)
        _, last = month_days(cfg, t)
        for loan in self.workouts:
            if loan.default_month == t:
                loan.sale_month = t + 1 + int(rng.integers(0, 3))
                loan.haircut = float(rng.uniform(cfg.collateral_haircut_low, cfg.collateral_haircut_high))
                continue
            if loan.sale_month == t:
                value = 0.0
                for no in loan.receipts:
                    rec = eco.receipts.get(no)
                    if rec is not None and rec.status == "pledged" and rec.pledgee == cfg.bank_name:
                        value += float(rec.body["quantity"]) * float(rec.body["unit_value_fen"])
                        eco.receipt_event(rng, no, "released", None, last - int(rng.integers(0, 10)))
                proceeds = int(min(loan.outstanding, value * (1 - loan.haircut)))
                self._recovered(loan, proceeds, last, "collateral")
            elif t > loan.sale_month:
                health = cfg.recovery_health_slope * eco.h[loan.firm]
                share = cfg.unsecured_recovery_rate * 2 / (1 + np.exp(-health))
                if eco.flight_month[loan.firm] >= 0:
                    share *= cfg.flight_recovery_factor
                amount = int(loan.outstanding * min(1.0, share * float(rng.gamma(2.0, 0.5))))
                self._recovered(loan, amount, last, "unsecured")
        self.workouts = [
            w for w in self.workouts if w.outstanding > 0 and t < w.default_month + cfg.recovery_months
        ]

    def _recovered(self, loan: Loan, amount: int, day: int, source: str) -> None:
        if amount <= 0:
            return
        loan.outstanding -= amount
        self.recoveries.append(
            {"loan_id": loan.loan_id, "month_end": day_str(day), "amount_fen": amount, "source": source}
        )
