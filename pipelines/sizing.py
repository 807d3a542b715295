"""How much a world's books give the models to learn from, known before any step runs.

Training labels an application bad when its loan reaches 90 days past due within 12 months
of disbursement, and only applications whose 12 months are fully observed count; the newest
``oot_share`` of them are the out-of-time sample. Those counts follow from the bank's own
books (``applications`` and ``loan_performance``) alone, so they can be read in a second,
right after a world is simulated, instead of after the minutes of ingest and features.

``fit_thresholds`` chooses the training thresholds (``min_bads``) for that size: the
standard ones (``STANDARD_MIN_BADS``) when the books reach them, else lower ones down to a
floor (``FLOOR_MIN_BADS``), marked as *thin data* in the registry and the report; below the
floor there is too little to train on and the caller says so before the long work.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.errors import SmecreditError

STANDARD_MIN_BADS = (20, 5)
"""Defaults a scorecard needs in training and out of time (the ``train_models`` defaults)."""
FLOOR_MIN_BADS = (3, 1)
"""Below this there is nothing to learn from: a scorecard needs defaults to bin against, and an
out-of-time AUC needs at least one default."""
DEFAULT_OOT_SHARE = 0.3


class SizingError(SmecreditError):
    """The books give too little to train on; the message says how much and what is needed."""


@dataclass(frozen=True)
class DataSize:
    """The labelled applications a training run will see, and their defaults."""

    observed: int  # applications with a fully observed 12-month outcome
    train_rows: int
    oot_rows: int
    train_bads: int
    oot_bads: int

    def line(self) -> str:
        """One line for people: what the counts are and what they mean for the models."""
        low, high = wilson(self.train_bads, self.train_rows)
        counts = (
            f"{self.observed:,} applications with a fully observed year: {self.train_bads} defaults "
            f"among {self.train_rows:,} in training (default rate 95% interval {low:.1%} to {high:.1%}), "
            f"{self.oot_bads} among {self.oot_rows:,} out of time"
        )
        if not is_thin((self.train_bads, self.oot_bads)):
            return f"{counts}: enough for the standard thresholds {STANDARD_MIN_BADS}"
        if self.train_bads >= FLOOR_MIN_BADS[0] and self.oot_bads >= FLOOR_MIN_BADS[1]:
            return (
                f"{counts}: thin data, below the standard {STANDARD_MIN_BADS[0]} and "
                f"{STANDARD_MIN_BADS[1]}; the models train with lowered thresholds, marked thin_data in "
                "the registry and the report; expect wide intervals, unstable bins and an "
                "out-of-time AUC that says little"
            )
        return (
            f"{counts}: too few to train a scorecard (need at least {FLOOR_MIN_BADS[0]} and "
            f"{FLOOR_MIN_BADS[1]}); simulate more firms or months"
        )


def wilson(bads: int, rows: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a default rate ``bads / rows`` (0 to 1 when ``rows`` is 0)."""
    if rows <= 0:
        return 0.0, 1.0
    p = bads / rows
    centre = (p + z * z / (2 * rows)) / (1 + z * z / rows)
    half = z * ((p * (1 - p) / rows + z * z / (4 * rows * rows)) ** 0.5) / (1 + z * z / rows)
    return max(0.0, centre - half), min(1.0, centre + half)


def measure(applications: object, performance: object, oot_share: float = DEFAULT_OOT_SHARE) -> DataSize:
    """The counts ``pipelines.scoring.train`` will split, from the bank's ``applications`` and
    ``loan_performance`` tables (the same labels, order and cut)."""
    import pandas as pd

    from pipelines.scoring.labels import labels

    assert isinstance(applications, pd.DataFrame) and isinstance(performance, pd.DataFrame)
    labelled = applications.merge(labels(applications, performance), on="application_id")
    labelled = labelled[labelled["observed"]].sort_values(["applied_on", "application_id"], ignore_index=True)
    cut = int(len(labelled) * (1 - oot_share))
    bad = labelled["bad"].astype(int)
    return DataSize(len(labelled), cut, len(labelled) - cut, int(bad[:cut].sum()), int(bad[cut:].sum()))


def measure_books(bank_uri: str, oot_share: float = DEFAULT_OOT_SHARE) -> DataSize:
    """``measure`` on the bank's books at ``bank_uri``."""
    from pipelines.books import read_bank

    return measure(read_bank(bank_uri, "applications"), read_bank(bank_uri, "loan_performance"), oot_share)


def fit_thresholds(size: DataSize) -> tuple[int, int]:
    """The ``min_bads`` (training, out of time) to train with: the standard ones when the books
    reach them, else what the books give, never below the floor.

    Raises:
        SizingError: fewer defaults than the floor in training or out of time.
    """
    if size.train_bads < FLOOR_MIN_BADS[0] or size.oot_bads < FLOOR_MIN_BADS[1]:
        raise SizingError(size.line())
    return (
        min(STANDARD_MIN_BADS[0], size.train_bads),
        min(STANDARD_MIN_BADS[1], size.oot_bads),
    )


def is_thin(min_bads: tuple[int, int] | list[int]) -> bool:
    """Whether a model was trained with thresholds below the standard ones."""
    return min_bads[0] < STANDARD_MIN_BADS[0] or min_bads[1] < STANDARD_MIN_BADS[1]
