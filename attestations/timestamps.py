"""RFC 3339 timestamps and dates as the format restricts them (spec section 8)."""

from __future__ import annotations

import re
from functools import lru_cache

# Upper-case T and Z only, an optional fraction; ASCII digits only.
_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?Z")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")

# Comparable key: (year, month, day, hour, minute, second, fraction digits without trailing
# zeros). Tuples of ints and a digit string order exactly as the instants do, leap second
# 23:59:60 included, which datetime cannot represent.
TimestampKey = tuple[int, int, int, int, int, int, str]


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_day(year: int, month: int, day: int) -> bool:
    # Proleptic Gregorian, year 0000 included (RFC 3339 allows it; datetime does not).
    if not 1 <= month <= 12:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 1 <= day <= _MONTH_DAYS[month - 1] + (1 if month == 2 and leap else 0)


def timestamp_key(value: object) -> TimestampKey | None:
    """Return the sortable key of a valid timestamp, or None when ``value`` is not one."""
    return _timestamp_key(value) if isinstance(value, str) else None


@lru_cache(maxsize=1 << 16)
def _timestamp_key(value: str) -> TimestampKey | None:
    m = _TIMESTAMP.fullmatch(value)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not _valid_day(year, month, day) or hour > 23 or minute > 59:
        return None
    if second > 60 or (second == 60 and (hour, minute) != (23, 59)):
        return None
    return (year, month, day, hour, minute, second, (m.group(7) or "").rstrip("0"))


def is_timestamp(value: object) -> bool:
    """True for an RFC 3339 UTC timestamp of the format's form (``...T...Z``)."""
    return timestamp_key(value) is not None


def is_date(value: object) -> bool:
    """True for a real calendar date written ``YYYY-MM-DD``."""
    return isinstance(value, str) and _is_date(value)


@lru_cache(maxsize=1 << 16)
def _is_date(value: str) -> bool:
    m = _DATE.fullmatch(value)
    return m is not None and _valid_day(*(int(g) for g in m.groups()))


def is_period(value: object) -> bool:
    """True for a month written ``YYYY-MM``."""
    return isinstance(value, str) and _is_period(value)


@lru_cache(maxsize=1 << 12)
def _is_period(value: str) -> bool:
    m = _PERIOD.fullmatch(value)
    return m is not None and 1 <= int(m.group(2)) <= 12
