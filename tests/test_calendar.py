"""Month ends and month arithmetic (pipelines.calendar) on every day of several years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from pipelines.calendar import (
    add_months,
    month_end,
    month_end_on_or_before,
    month_ends,
    month_number,
    month_numbers,
    month_of,
    month_start,
    month_text,
    period_numbers,
    sealed_cutoff,
    shift_period,
)

DAYS = [date(2019, 12, 1) + timedelta(days=i) for i in range(2 * 366 + 90)]


def _last_day(d: date) -> date:
    """The month's last day, the slow way: walk until the month changes."""
    while (d + timedelta(days=1)).month == d.month:
        d += timedelta(days=1)
    return d


def test_month_end_on_or_before_every_day() -> None:
    for d in DAYS:
        expected = d if d == _last_day(d) else d.replace(day=1) - timedelta(days=1)
        assert month_end_on_or_before(d) == expected, d
        assert month_end(month_number(d)) == _last_day(d)
    assert month_end_on_or_before(date(2024, 2, 29)) == date(2024, 2, 29)
    assert month_end_on_or_before(date(2024, 1, 1)) == date(2023, 12, 31)


def test_month_ends_between_two_days() -> None:
    assert month_ends(date(2023, 12, 15), date(2024, 3, 31)) == [
        date(2023, 11, 30),
        date(2023, 12, 31),
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
    ]
    assert month_ends(date(2024, 3, 5), date(2024, 3, 30)) == [date(2024, 2, 29)]
    assert month_ends(date(2024, 4, 1), date(2024, 3, 1)) == []


def test_add_months_keeps_the_day_or_cuts_it_to_the_months_last() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 11, 15), 2) == date(2025, 1, 15)
    assert add_months(date(2024, 3, 31), -13) == date(2023, 2, 28)
    for d in DAYS:
        assert add_months(add_months(d, 12), -12) == d or d.day == 29


def test_month_numbers_and_texts_round_trip() -> None:
    assert month_number(date(2024, 1, 9)) == 2024 * 12
    assert month_text(2024 * 12 + 11) == "2024-12"
    assert month_of("2024-12") == month_of("2024-12-31") == 2024 * 12 + 11
    assert shift_period("2024-02", -3) == "2023-11"
    assert shift_period("2023-11", 3) == "2024-02"
    assert month_start(month_of("2024-03")) == datetime(2024, 3, 1, tzinfo=UTC)
    assert sealed_cutoff(date(2024, 2, 29)) == datetime(2024, 3, 1, tzinfo=UTC)


def test_arrow_columns_give_the_same_month_numbers() -> None:
    days = pa.array(DAYS, pa.date32())
    assert month_numbers(days).tolist() == [month_number(d) for d in DAYS]
    periods = pa.array([f"{d:%Y-%m}" for d in DAYS])
    assert period_numbers(periods).tolist() == [month_number(d) for d in DAYS]
