"""The firms: identity, registry attributes, hidden parameters and the trade network.

Drawn once from ``(seed, firms)`` only, never from the number of months, so that a longer
world starts with the same firms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attestations.uscc import CODE_SET, make_uscc
from pipelines.simulate.config import INDUSTRIES, REGIONS, WorldConfig

# Six-digit administrative division codes of one city per region (first part of a USCC).
_REGION_CODES = ("310115", "440305", "110105", "420106", "510107", "210102")
SIZE_BANDS = ("micro", "small", "medium")


def rng_for(cfg: WorldConfig, *stream: int) -> np.random.Generator:
    """An independent generator for one (stream, month, ...) of this world."""
    return np.random.default_rng([cfg.seed, *stream])


@dataclass
class Population:
    """Static firm attributes, one array element per firm (index = firm number)."""

    ids: list[str]
    industry: np.ndarray
    region: np.ndarray
    size: np.ndarray
    base_headcount: np.ndarray
    sale_amount_fen: np.ndarray  # typical amount of one sale
    mu: np.ndarray  # long-run health
    customers: np.ndarray  # (firms, k) customer firm numbers
    customer_share: np.ndarray  # (firms, k) share of sales to each customer
    wage_per_head_fen: np.ndarray
    hf_unenrolled: np.ndarray  # staff a firm never enrolled in the housing fund
    has_warehouse: np.ndarray
    registered_on: list[str]
    rings: list[list[int]]
    ring_start: list[int]  # month index at which each ring starts trading in a circle
    ring_months: list[int]

    @property
    def size_count(self) -> int:
        return len(self.ids)


def _uscc_ids(rng: np.random.Generator, region: np.ndarray) -> list[str]:
    ids: list[str] = []
    seen: set[str] = set()
    chars = np.array(list(CODE_SET[:10] + CODE_SET[10:]))
    for r in region:
        while True:
            body = "".join(rng.choice(chars, 9))
            code = make_uscc("91" + _REGION_CODES[r] + body)
            if code not in seen:
                seen.add(code)
                ids.append(code)
                break
    return ids


def build_population(cfg: WorldConfig) -> Population:
    """Draw the firms of the world."""
    rng = rng_for(cfg, 1)
    n = cfg.firms
    industry = rng.integers(0, len(INDUSTRIES), n)
    region = rng.integers(0, len(REGIONS), n)
    size = rng.choice(3, n, p=[0.55, 0.35, 0.10])
    base_headcount = (
        np.round(np.exp(rng.normal(0, 0.35, n) + np.array([1.7, 3.0, 4.3])[size])).astype(int) + 1
    )
    sale_amount = np.exp(rng.normal(np.log(60_000_00) + 0.8 * size, 0.6))  # fen; about 60k yuan
    mu = rng.normal(0.35, 0.75, n)
    k = min(cfg.customers_per_firm, n - 1)
    # Customers: preferential to the same region, shares concentrated on a few (Dirichlet).
    customers = np.empty((n, k), dtype=int)
    for i in range(n):
        same = np.flatnonzero(region == region[i])
        pool = same if len(same) > k + 1 and rng.random() < 0.7 else np.arange(n)
        picks = rng.choice(pool, k + 1, replace=False)
        customers[i] = picks[picks != i][:k]
    share = rng.dirichlet(np.full(k, 0.6), n)
    wage = np.round(rng.normal(650_000, 120_000, n) * (1 + 0.15 * size)).clip(260_000).astype(int)
    hf_unenrolled = np.where(rng.random(n) < 0.12, rng.integers(1, 4, n), 0)
    has_warehouse = rng.random(n) < np.array([0.25, 0.4, 0.6])[industry % 3]
    years = rng.integers(2, 20, n)
    registered = [
        f"{cfg.start.year - y}-{m:02d}-{d:02d}"
        for y, m, d in zip(years, rng.integers(1, 13, n), rng.integers(1, 29, n), strict=True)
    ]
    rings, starts, lengths = _rings(cfg, rng, region)
    return Population(
        ids=_uscc_ids(rng, region),
        industry=industry,
        region=region,
        size=size,
        base_headcount=base_headcount,
        sale_amount_fen=sale_amount,
        mu=mu,
        customers=customers,
        customer_share=share,
        wage_per_head_fen=wage,
        hf_unenrolled=hf_unenrolled,
        has_warehouse=has_warehouse,
        registered_on=registered,
        rings=rings,
        ring_start=starts,
        ring_months=lengths,
    )


def _rings(
    cfg: WorldConfig, rng: np.random.Generator, region: np.ndarray
) -> tuple[list[list[int]], list[int], list[int]]:
    """Groups of 3 or 4 related firms (same region) that will trade in a circle for a while."""
    count = int(rng.poisson(cfg.rings_per_1000_firms * cfg.firms / 1000))
    used: set[int] = set()
    rings, starts, lengths = [], [], []
    for _ in range(count):
        r = int(rng.integers(0, len(REGIONS)))
        pool = [int(i) for i in np.flatnonzero(region == r) if int(i) not in used]
        size = int(rng.integers(3, 5))
        if len(pool) < size:
            continue
        members = [int(m) for m in rng.choice(pool, size, replace=False)]
        used.update(members)
        rings.append(members)
        starts.append(int(rng.integers(3, 27)))  # not tied to the horizon: worlds extend
        lengths.append(int(rng.integers(3, 7)))
    return rings, starts, lengths
