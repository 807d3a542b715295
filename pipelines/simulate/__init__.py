"""A simulated SME economy that writes real, signed ledger exports (see README, "The world")."""

from pipelines.simulate.config import WorldConfig
from pipelines.simulate.world import WorldSummary, simulate

__all__ = ["WorldConfig", "WorldSummary", "simulate"]
