"""The check registry: every check documented, run in the order the review reports them."""

from __future__ import annotations

from pipelines.review import CHECKS
from pipelines.review.checks import pledged_twice


def test_checks_run_in_the_reported_order_and_are_documented() -> None:
    assert list(CHECKS) == [
        "collateral",
        "receivables",
        "trade_authenticity",
        "circular_trade",
        "headcount",
        "data_freshness",
    ]
    for name, check in CHECKS.items():
        doc = check.__doc__ or ""
        for part in ("On the chain", "Finding", "Figures", "Evidence"):
            assert part in doc, f"check {name}'s docstring does not say its {part}"


def test_a_double_pledge_is_two_consecutive_pledges_to_different_pledgees() -> None:
    assert pledged_twice(["issued", "pledged", "pledged"], [None, "A", "B"])
    assert not pledged_twice(["pledged", "released", "pledged"], ["A", None, "B"])
    assert not pledged_twice(["pledged", "pledged"], ["A", "A"])
