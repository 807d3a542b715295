"""What ``smecredit ecl`` and ``smecredit model-health`` print: the book's provision by stage
and grade with the month's movement bridge, and the models' health rows."""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.portfolio.tables import read_month, read_months
from pipelines.readable import percent


def yuan(fen: float) -> str:
    return f"{fen / 100:,.0f}"


def ecl_summary(lake_uri: str, as_of: date) -> str:
    """The provision at ``as_of`` by stage and by grade, and the bridge from the month before."""
    ecl = read_month(lake_uri, "ecl", as_of)
    if ecl is None:
        return f"no ECL assessed for {as_of:%Y-%m}"
    total, ead = int(ecl["ecl_fen"].sum()), int(ecl["ead_fen"].sum())
    head = f"ECL at {as_of.isoformat()}: {len(ecl)} loans, exposure {yuan(ead)}, provision {yuan(total)} yuan"
    lines = [f"{head} (coverage {total / max(ead, 1):.2%})", ""]
    for key in ("stage", "grade"):
        g = ecl.groupby(key).agg(
            loans=("loan_id", "size"), ead_fen=("ead_fen", "sum"), ecl_fen=("ecl_fen", "sum")
        )
        g["coverage"] = (g["ecl_fen"] / g["ead_fen"].clip(lower=1)).map("{:.2%}".format)
        g["ead_yuan"], g["ecl_yuan"] = g["ead_fen"].map(yuan), g["ecl_fen"].map(yuan)
        lines += [f"by {key}:", g[["loans", "ead_yuan", "ecl_yuan", "coverage"]].to_string(), ""]
    reasons = ecl.groupby(["stage", "stage_reason"]).size().rename("loans").reset_index()
    lines += ["stage reasons:", reasons.to_string(index=False), ""]
    moves = read_month(lake_uri, "ecl_movements", as_of)
    if moves is not None:
        moves = moves.sort_values("step").assign(yuan=lambda m: m["amount_fen"].map(yuan))
        lines += ["movements (yuan):", moves[["cause", "yuan", "loans"]].to_string(index=False)]
    return "\n".join(lines)


METRICS = {
    "psi": "PSI of the score",
    "csi": "CSI of a feature",
    "calibration": "Calibration (Jeffreys p-value)",
    "missing": "Rows without features",
    "overrides": "Overrides",
}


def health_value(metric: str, value: float | None) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    if metric in ("missing", "overrides"):
        return percent(value)
    if metric == "calibration" and value < 0.001:
        return "< 0.001"
    return f"{value:.3f}"


def health_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The model-health rows as a risk manager reads them: named measures, values as
    figures or shares, and the breach threshold beside each."""
    return pd.DataFrame(
        {
            "Family": rows["family"].str.replace("_", " "),
            "Model": rows["model_id"],
            "Measure": rows["metric"].map(lambda m: METRICS.get(m, m)),
            "Of": [
                f"grade {s}" if m == "calibration" else ("all rows" if s == "all" else s.replace("_", " "))
                for m, s in zip(rows["metric"], rows["subject"], strict=True)
            ],
            "Value": [health_value(m, v) for m, v in zip(rows["metric"], rows["value"], strict=True)],
            "Breach at": [
                "" if pd.isna(t) else (f"p < {t:g}" if m == "calibration" else f"> {t:g}")
                for m, t in zip(rows["metric"], rows["threshold"], strict=True)
            ],
            "Breach": rows["breach"].map({True: "yes", False: ""}),
            "Rows": rows["n"].map(lambda n: f"{int(n):,}"),
        }
    )


def health_summary(lake_uri: str, as_of: date | None = None) -> str:
    """The model-health rows of ``as_of``'s month (default: the latest), breaches first."""
    rows = read_months(lake_uri, "model_monitoring")
    if not len(rows):
        return "no model health assessed yet (smecredit ecl --as-of D assesses a month)"
    rows["as_of"] = pd.to_datetime(rows["as_of"]).dt.date
    month = as_of or max(rows["as_of"])
    rows = rows[[(d.year, d.month) == (month.year, month.month) for d in rows["as_of"]]]
    if not len(rows):
        return f"no model health assessed for {month:%Y-%m}"
    rows = rows.sort_values(["breach", "family", "metric", "subject"], ascending=[False, True, True, True])
    with pd.option_context("display.width", 250, "display.max_rows", 500):
        table = health_table(rows).to_string(index=False)
    return f"model health at {month.isoformat()}: {int(rows['breach'].sum())} breaches\n{table}"
