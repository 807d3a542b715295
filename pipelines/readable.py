"""Figures as people read them: money in yuan with two decimals and ``CNY``, shares as
percentages, counts with their noun. The tables keep fen and fractions; every message, CLI
line and report a person reads formats them here, so they read the same everywhere."""

from __future__ import annotations

import math

CURRENCY = "CNY"


def money(fen: float | int | None) -> str:
    """An amount in fen as yuan with two decimals: ``CNY 1,674,166.66``."""
    if fen is None or (isinstance(fen, float) and math.isnan(fen)):
        return "unknown amount"
    return money_yuan(float(fen) / 100)


def money_yuan(yuan: float | int | None) -> str:
    """An amount already in yuan (the features keep sales and arrears in yuan): ``CNY 12,500.00``."""
    if yuan is None or (isinstance(yuan, float) and math.isnan(yuan)):
        return "unknown amount"
    sign = "-" if float(yuan) < 0 else ""
    return f"{sign}{CURRENCY} {abs(float(yuan)):,.2f}"


def percent(share: float | None, digits: int = 1) -> str:
    """A share as a percentage with ``digits`` decimals: ``0.184`` -> ``18.4%``."""
    if share is None or math.isnan(float(share)):
        return "unknown"
    return f"{float(share) * 100:.{digits}f}%"


def line(share: float) -> str:
    """A threshold share as a percentage without needless decimals: ``0.15`` -> ``15%``,
    ``0.025`` -> ``2.5%``."""
    text = f"{float(share) * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def count(n: float | int, noun: str, plural: str | None = None) -> str:
    """``n`` with its noun: ``1 month``, ``3 months``, ``45 days`` (whole numbers only)."""
    whole = round(float(n))
    return f"{whole:,} {noun if whole == 1 else plural or noun + 's'}"


def showing(shown: int, total: int, what: str = "", option: str = "--limit N") -> str:
    """What a listing cut at ``shown`` rows says: ``showing 50 of 277 scores (--limit N)``;
    empty when nothing was left out."""
    noun = f" {what}" if what else ""
    return f"showing {shown:,} of {total:,}{noun} ({option})" if shown < total else ""
