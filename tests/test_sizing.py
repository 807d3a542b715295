"""Small worlds: how many defaults training will see, read from the bank's books before any
step runs, and the thresholds that fit (pipelines/sizing.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.sizing import (
    FLOOR_MIN_BADS,
    STANDARD_MIN_BADS,
    DataSize,
    SizingError,
    fit_thresholds,
    is_thin,
    measure,
    wilson,
)


def _books(n: int, bad_every: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` loans disbursed a day apart in 2024, every ``bad_every``-th 90 days past due in
    its fourth month; performance observed to the end of 2025, so every year is complete
    but the last loan's (disbursed in 2025, after the horizon the books reach)."""
    days = pd.date_range("2024-01-01", periods=n, freq="D")
    apps = pd.DataFrame(
        {
            "application_id": [f"A{i:04d}" for i in range(n)],
            "loan_id": [f"L{i:04d}" for i in range(n)],
            "applied_on": [d.date().isoformat() for d in days],
            "disbursed_on": [d.date().isoformat() for d in days],
        }
    )
    apps.loc[n - 1, ["applied_on", "disbursed_on"]] = "2025-06-01"
    perf = pd.DataFrame(
        {
            "loan_id": [f"L{i:04d}" for i in range(0, n, bad_every)] + ["L0001"],
            "month_end": ["2024-12-31"] * len(range(0, n, bad_every)) + ["2025-12-31"],
            "dpd": [95] * len(range(0, n, bad_every)) + [0],
        }
    )
    return apps, perf


def test_the_counts_are_the_ones_training_splits() -> None:
    apps, perf = _books(101, 10)  # bad: loans 0, 10, ..., 100; loan 100 is not observed
    size = measure(apps, perf, oot_share=0.3)
    assert size.observed == 100 and (size.train_rows, size.oot_rows) == (70, 30)
    # loans 0..60 step 10 fall in the older 70 (7 bads); 70, 80, 90 out of time
    assert (size.train_bads, size.oot_bads) == (7, 3)


def test_thresholds_fit_the_size_and_say_so() -> None:
    big = DataSize(2000, 1400, 600, 80, 30)
    assert fit_thresholds(big) == STANDARD_MIN_BADS and not is_thin(fit_thresholds(big))
    assert "enough for the standard thresholds" in big.line()
    small = DataSize(222, 155, 67, 4, 2)  # a 500-firm demo world (seed 7)
    assert fit_thresholds(small) == (4, 2) and is_thin((4, 2))
    line = small.line()
    assert "thin data" in line and "wide intervals" in line and "4 defaults among 155" in line
    assert "\n" not in line
    low, high = wilson(4, 155)
    assert 0 < low < 4 / 155 < high < 0.1
    assert f"{low:.1%} to {high:.1%}" in line


@pytest.mark.parametrize("bads", [(FLOOR_MIN_BADS[0] - 1, 5), (30, FLOOR_MIN_BADS[1] - 1)])
def test_too_few_defaults_is_said_before_the_long_work(bads: tuple[int, int]) -> None:
    size = DataSize(100, 70, 30, *bads)
    with pytest.raises(SizingError, match="too few to train a scorecard"):
        fit_thresholds(size)
