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
SEAL_ORDER = ("social_insurance", "housing_fund", "supply_chain")
"""The order the simulated chain seals a day's records in, source by source (it fixes the
worlds' heights and seal times, so it is not the spec's order in ``pipelines.schemas.SOURCES``;
the two hold the same sources)."""


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
    # Pricing: the annual rate of a loan is base_rate + risk_spread * (how far the firm's
    # health is below 0, capped at 3) + a uniform draw up to rate_noise (stream S_PRICE).
    base_rate: float = 0.045
    risk_spread: float = 0.02
    rate_noise: float = 0.03

    # Recoveries after a default (stream S_RECOVER): the receipts still pledged to the bank
    # are sold 1 to 3 months after the default at a haircut drawn uniformly between
    # collateral_haircut_low and _high; then, until recovery_months after the default, each
    # month recovers a share of the unsecured remainder with mean unsecured_recovery_rate *
    # 2 * sigmoid(recovery_health_slope * health) (a gamma(2, 1/2) multiple of it), times
    # flight_recovery_factor for a firm that emptied its premises. What is left afterwards
    # is written off (no record).
    recovery_months: int = 12
    collateral_haircut_low: float = 0.2
    collateral_haircut_high: float = 0.5
    unsecured_recovery_rate: float = 0.035
    recovery_health_slope: float = 1.0
    flight_recovery_factor: float = 0.2

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
        if not 0 <= self.collateral_haircut_low <= self.collateral_haircut_high <= 1:
            raise ValueError("collateral haircuts must satisfy 0 <= low <= high <= 1")
        if self.recovery_months < 1:
            raise ValueError(f"recovery_months must be at least 1, got {self.recovery_months}")
        if self.hash_alg not in ("sha256", "sm3"):
            raise ValueError(f"hash_alg must be sha256 or sm3, got {self.hash_alg!r}")
