"""How the command line lists rows to people: the notice when a listing is cut, and figures
rounded as people read them (scores as whole points, probabilities as percentages)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd


def cut_notice(shown: int, total: int, what: str = "rows") -> str:
    """``showing 50 of 277 <what> (--limit N)`` when a listing shows fewer rows than it has,
    else ``<total> <what>``."""
    if shown < total:
        return f"showing {shown:,} of {total:,} {what} (--limit N)"
    return f"{total:,} {what}"


def percent(value: Any, digits: int = 1) -> str:
    """A probability as a percentage (``0.0213`` -> ``2.1%``); empty when missing."""
    return "" if value is None or pd.isna(value) else f"{float(value) * 100:.{digits}f}%"


def whole(value: Any) -> str:
    """A score as whole points (``544.97`` -> ``545``); empty when missing."""
    return "" if value is None or pd.isna(value) else f"{round(float(value)):d}"


def table_text(frame: pd.DataFrame, columns: Sequence[str], formats: dict[str, Any] | None = None) -> str:
    """``frame``'s ``columns`` as a text table, each column in ``formats`` passed through its
    function (``percent``, ``whole``, ...); ``(none)`` when empty."""
    if frame.empty:
        return "(none)"
    shown = frame[list(columns)].copy()
    for col, fmt in (formats or {}).items():
        if col in shown:
            shown[col] = shown[col].map(fmt)
    with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_colwidth", 60):
        return str(shown.to_string(index=False))
