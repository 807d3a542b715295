"""The in-loan checks, one module each; ``registry.CHECKS`` runs them in order."""

from pipelines.review.checks.base import RESULTS, Case, Check
from pipelines.review.checks.circular import circular_trade
from pipelines.review.checks.collateral import collateral, pledged_twice
from pipelines.review.checks.freshness import data_freshness
from pipelines.review.checks.headcount import headcount
from pipelines.review.checks.receivables import receivables
from pipelines.review.checks.registry import CHECKS, CheckFunction, run_checks
from pipelines.review.checks.trade import trade_authenticity

__all__ = [
    "CHECKS",
    "RESULTS",
    "Case",
    "Check",
    "CheckFunction",
    "circular_trade",
    "collateral",
    "data_freshness",
    "headcount",
    "pledged_twice",
    "receivables",
    "run_checks",
    "trade_authenticity",
]
