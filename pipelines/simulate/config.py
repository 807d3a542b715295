"""The knobs of the simulated SME economy. Every field is explicit; defaults give a world
whose loans default at a few percent a year, with misbehaviour at realistic low rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

INDUSTRIES = (
    "manufacturing",
    "wholesale",
    "retail",
    "logistics",
    "construction",
    "food",
    "textiles",
    "electronics",
)
REGIONS = ("east", "south", "north", "central", "southwest", "northeast")
SOURCES = ("social_insurance", "housing_fund", "supply_chain")


@dataclass(frozen=True)
class WorldConfig:
    """How big the world is and how it behaves."""

    firms: int = 2000
    months: int = 24
    seed: int = 0
    start: date = date(2024, 1, 1)
    chain_id: str = "sme-consortium-1"
    hash_alg: str = "sha256"
    block_size: int = 10_000
    bank_name: str = "SMECREDIT-BANK"
    other_banks: tuple[str, ...] = ("BANK-OF-EAST", "HARBOUR-BANK", "UNITED-RURAL-BANK")

    # Hidden health: h[t] = mu + rho (h[t-1] - mu) + industry shock + own shock + rare jump.
    health_rho: float = 0.92
    industry_shock_sd: float = 0.12
    own_shock_sd: float = 0.22
    jump_prob: float = 0.006  # per firm-month: a sudden collapse (lost customer, fire, fraud)
    jump_size: float = 2.2

    # Trade
    sales_per_month: float = 3.0  # mean sales orders per firm-month at health 0
    health_volume_elasticity: float = 0.45
    customers_per_firm: int = 6
    unpaid_base_prob: float = 0.02
    long_seal_lag_prob: float = 0.02  # records sealed weeks to months after the event

    # Loans (the bank's own books)
    apply_per_firm_year: float = 0.15
    miss_intercept: float = -5.8  # logit of missing a monthly instalment at health 0
    miss_slope: float = 1.35  # per unit of health below 0
    roll_intercept: float = -1.9  # logit of missing again once behind (delinquency is sticky)
    cure_prob: float = 0.35

    # Misbehaviour, as shares of applications (or of firms for rings and flight)
    fake_trade_rate: float = 0.03
    headcount_inflation_rate: float = 0.03
    double_pledge_rate: float = 0.15  # of applications that offer warehouse receipts
    rings_per_1000_firms: float = 2.0
    flight_prob: float = 0.35  # a collapsing firm empties its premises before it defaults

    def __post_init__(self) -> None:
        if self.firms < 10:
            raise ValueError(f"firms must be at least 10, got {self.firms}")
        if not 1 <= self.months <= 240:
            raise ValueError(f"months must be between 1 and 240, got {self.months}")
        if self.start.day != 1:
            raise ValueError(f"start must be the first day of a month, got {self.start}")
        if self.hash_alg not in ("sha256", "sm3"):
            raise ValueError(f"hash_alg must be sha256 or sm3, got {self.hash_alg!r}")
