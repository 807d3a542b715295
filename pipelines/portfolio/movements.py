"""The book's ECL from one month end to the next, by cause, in whole fen so that it adds up
exactly: opening + new loans + repaid + written off + stage transfers + model change +
remeasurement = closing.

Per loan: a loan only in the closing book is new (or, when there was no opening book, part
of the first assessment); a loan only in the opening book was repaid or left the book in
default (written off, or fully recovered); for a loan in both, the stage transfer is its
opening ECL measured on the closing stage's horizon (12-month or lifetime) less its opening
ECL, the model change is its closing ECL less its closing ECL under the opening model (when
the grading model changed), and remeasurement is the rest (risk, balance, collateral and
recoveries moving).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

CAUSES = (
    "opening",
    "first_assessment",
    "new_loans",
    "repaid",
    "written_off",
    "stage_transfer",
    "model_change",
    "remeasurement",
    "closing",
)


def _basis(stage: pd.Series, twelve: pd.Series, lifetime: pd.Series) -> pd.Series:
    return pd.Series(
        np.where(stage.to_numpy() == 1, twelve.to_numpy(), lifetime.to_numpy()), index=stage.index
    )


def loan_movements(
    opening: pd.DataFrame | None,
    closing: pd.DataFrame,
    repaid: set[str],
    closing_old_model: pd.Series | None = None,
) -> pd.DataFrame:
    """Per loan and cause, the change in fen. ``opening``/``closing``: ``loan_id, stage,
    ecl_fen, ecl_12m_fen, ecl_lifetime_fen``; ``repaid``: loans repaid since the opening;
    ``closing_old_model``: closing ECL by loan under the opening's model, when it changed."""
    close = closing.set_index("loan_id")
    if opening is None:
        return pd.DataFrame(
            {"loan_id": close.index, "cause": "first_assessment", "amount_fen": close["ecl_fen"].to_numpy()}
        )
    open_ = opening.set_index("loan_id")
    new = close.index.difference(open_.index)
    gone = open_.index.difference(close.index)
    both = open_.index.intersection(close.index)
    o, c = open_.loc[both], close.loc[both]
    transfer = _basis(c["stage"], o["ecl_12m_fen"], o["ecl_lifetime_fen"]) - o["ecl_fen"]
    transfer = transfer.where(o["stage"] != c["stage"], 0)
    model = pd.Series(0, index=both, dtype="int64")
    if closing_old_model is not None:
        model = (c["ecl_fen"] - closing_old_model.reindex(both).fillna(c["ecl_fen"])).astype("int64")
    rest = c["ecl_fen"] - o["ecl_fen"] - transfer - model
    gone_cause = np.where(gone.isin(list(repaid)), "repaid", "written_off")
    parts = [
        pd.DataFrame(
            {"loan_id": new, "cause": "new_loans", "amount_fen": close.loc[new, "ecl_fen"].to_numpy()}
        ),
        pd.DataFrame(
            {"loan_id": gone, "cause": gone_cause, "amount_fen": -open_.loc[gone, "ecl_fen"].to_numpy()}
        ),
    ]
    for cause, values in (("stage_transfer", transfer), ("model_change", model), ("remeasurement", rest)):
        parts.append(pd.DataFrame({"loan_id": both, "cause": cause, "amount_fen": values.to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    out["amount_fen"] = out["amount_fen"].astype("int64")
    return out


def bridge(
    opening: pd.DataFrame | None, closing: pd.DataFrame, per_loan: pd.DataFrame, as_of: date
) -> pd.DataFrame:
    """The bridge rows of one month: ``as_of, step, cause, amount_fen, loans`` from opening to
    closing (``step`` orders them)."""
    opening_total = int(opening["ecl_fen"].sum()) if opening is not None else 0
    rows = [("opening", opening_total, len(opening) if opening is not None else 0)]
    moved = per_loan[per_loan["amount_fen"] != 0].groupby("cause")
    sums, counts = moved["amount_fen"].sum(), moved.size()
    for cause in CAUSES[1:-1]:
        if cause in per_loan["cause"].values:
            rows.append((cause, int(sums.get(cause, 0)), int(counts.get(cause, 0))))
    rows.append(("closing", int(closing["ecl_fen"].sum()), len(closing)))
    return pd.DataFrame(
        [
            {"as_of": as_of, "step": i, "cause": c, "amount_fen": a, "loans": n}
            for i, (c, a, n) in enumerate(rows)
        ]
    )
