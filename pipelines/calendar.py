"""Month ends and month arithmetic, the one place every stage takes them from.

A month is numbered ``year * 12 + month - 1`` (``month_number``): whole months then add and
subtract as integers, and ``month_text`` writes one as ``YYYY-MM`` (the lake's
``sealed_month``, a contribution's ``period``). A day counts up to its end in UTC:
``sealed_cutoff`` is the first instant after it, and what was sealed before that instant
is known on that day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DAYS_PER_MONTH = 30.44
"""The average month in days, for durations given in months (months on book, to a lease's end)."""


def month_number(d: date) -> int:
    """``d``'s month as ``year * 12 + month - 1``."""
    return d.year * 12 + d.month - 1


def month_text(n: int) -> str:
    """Month ``n`` (``month_number``) as ``YYYY-MM``."""
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def month_of(text: str) -> int:
    """The month number of ``YYYY-MM`` (or of the month of ``YYYY-MM-DD``)."""
    return int(text[:4]) * 12 + int(text[5:7]) - 1


def shift_period(period: str, months: int) -> str:
    """The ``YYYY-MM`` period ``months`` after ``period`` (before it when negative)."""
    return month_text(month_of(period) + months)


def month_start(n: int) -> datetime:
    """The first instant (UTC) of month ``n`` (``month_number``)."""
    return datetime(n // 12, n % 12 + 1, 1, tzinfo=UTC)


def month_end(n: int) -> date:
    """The last day of month ``n`` (``month_number``)."""
    return date((n + 1) // 12, (n + 1) % 12 + 1, 1) - timedelta(days=1)


def month_end_on_or_before(d: date) -> date:
    """The last day of ``d``'s month if ``d`` is that day, else the last day of the month before."""
    n = month_number(d)
    return d if d == month_end(n) else month_end(n - 1)


def month_ends(first: date, last: date) -> list[date]:
    """Every month end from the one on or before ``first`` to the one on or before ``last``."""
    start, stop = month_number(month_end_on_or_before(first)), month_number(month_end_on_or_before(last))
    return [month_end(n) for n in range(start, stop + 1)]


def add_months(d: date, months: int) -> date:
    """``d`` moved by ``months`` calendar months, its day kept or cut to the month's last."""
    n = month_number(d) + months
    return date(n // 12, n % 12 + 1, min(d.day, month_end(n).day))


def sealed_cutoff(as_of: date) -> datetime:
    """The first instant (UTC) after ``as_of``: what is sealed before it counts."""
    return datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)


def as_date(value: Any) -> date:
    """A date from a ``date`` or its ISO text (a timestamp's text keeps its date)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def month_numbers(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """``month_number`` of each date or timestamp of an Arrow column, as int32."""
    years = np.asarray(pc.year(values).to_numpy(zero_copy_only=False), dtype=np.int64)
    months = np.asarray(pc.month(values).to_numpy(zero_copy_only=False), dtype=np.int64)
    return (years * 12 + months - 1).astype(np.int32)


def period_numbers(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """``month_of`` each ``YYYY-MM`` text of an Arrow column, as int32."""
    years = pc.cast(pc.utf8_slice_codeunits(values, 0, 4), pa.int64()).to_numpy(zero_copy_only=False)
    months = pc.cast(pc.utf8_slice_codeunits(values, 5, 7), pa.int64()).to_numpy(zero_copy_only=False)
    return (np.asarray(years, dtype=np.int64) * 12 + np.asarray(months, dtype=np.int64) - 1).astype(np.int32)


def micros(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch, UTC."""
    stamps = pc.cast(pc.cast(values, pa.timestamp("us", tz="UTC")), pa.int64())
    return np.asarray(stamps.to_numpy(zero_copy_only=False), dtype=np.int64)
