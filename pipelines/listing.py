"""How the command line lists rows to people: tables of figures rounded as people read them
(scores as whole points, probabilities as percentages; the cut notice is
``readable.showing``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipelines import readable


def percent(value: Any, digits: int = 1) -> str:
    """A probability as a percentage (``0.0213`` -> ``2.1%``); empty when missing."""
    return "" if value is None or pd.isna(value) else readable.percent(float(value), digits)


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
