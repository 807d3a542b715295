"""The in-loan checks by name, in the order they run and are reported."""

from __future__ import annotations

from collections.abc import Callable

from pipelines.review.checks.base import Case, Check
from pipelines.review.checks.circular import circular_trade
from pipelines.review.checks.collateral import collateral
from pipelines.review.checks.freshness import data_freshness
from pipelines.review.checks.headcount import headcount
from pipelines.review.checks.receivables import receivables
from pipelines.review.checks.trade import trade_authenticity

CheckFunction = Callable[[Case, Check], None]
"""Fills the ``Check`` of its name for a ``Case``."""

CHECKS: dict[str, CheckFunction] = {
    fn.__name__: fn
    for fn in (collateral, receivables, trade_authenticity, circular_trade, headcount, data_freshness)
}


def run_checks(case: Case) -> dict[str, Check]:
    """Every check of ``case``, by name."""
    results = {}
    for name, fn in CHECKS.items():
        check = Check(name)
        fn(case, check)
        results[name] = check
    return results
