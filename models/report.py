"""The validation report of a trained model: one self-contained HTML page with embedded PNG
plots (ROC, KS, score distribution by outcome, calibration by grade, PSI), and the section
that shows a scorecard feature by feature (its bins, their trend, whether set by hand)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from models import metrics


def png(fig: Any) -> str:
    """A matplotlib figure as an ``<img>`` tag with the PNG inline."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(5, 3.6))


def table_html(frame: pd.DataFrame, floats: str = "{:.4f}") -> str:
    return str(frame.to_html(index=False, float_format=lambda v: floats.format(v), border=0, classes="t"))


def _asked(card: Any, rule: str | None, kind: str, by_hand: bool) -> str:
    """The trend the card was asked for, in words."""
    if kind != "numeric":
        return "none (categories grouped by bad rate)"
    if by_hand and rule in (None, "auto"):
        return "none: bins as set by hand"
    if rule is None:
        return "free"
    if rule != "auto":
        return f"{rule} (forced)"
    if not card.monotonic:
        return "auto: free"
    return "auto: monotonic or one turn" if card.allow_turn else "auto: monotonic"


def _set_by(card: Any, by_hand: bool) -> str:
    made = "by hand (user_splits)" if by_hand else "automatically"
    return f"reused from an earlier card (fixed_bins), made {made}" if card.fixed_bins is not None else made


def card_section(card: Any) -> str:
    """A fitted ``Scorecard`` feature by feature: a summary (information value, coefficient, the
    trend asked for and the one its bins show, who set the bins) and each feature's bins
    (ordinary, missing and special) with counts, bad rate, smoothed WoE and points."""
    table = card.points_table()
    rows, parts = [], []
    for name in card.features_:
        fb = card.bins_[name]
        rows.append(
            {
                "feature": name,
                "kind": fb.kind,
                "IV": fb.iv,
                "coefficient": card.coef_[name],
                "trend asked": _asked(card, fb.rule, fb.kind, fb.by_hand),
                "trend of the bins": fb.shape,
                "bins set": _set_by(card, fb.by_hand),
                "bins": len(fb.bins),
            }
        )
        kinds = ["ordinary"] * fb.n_ordinary + ["missing"] * (fb.missing_bin is not None)
        kinds += ["special"] * len(fb.specials)
        bins = table[table["feature"] == name].drop(columns="feature")
        bins.insert(1, "kind", kinds)
        bins.insert(3, "share", bins["count"] / max(sum(b.count for b in fb.bins), 1))
        parts.append(f"<h3>{html.escape(name)}</h3>{table_html(bins, '{:.3f}')}")
    left_out = sorted(set(card.bins_) - set(card.features_), key=lambda n: -card.iv_[n])
    note = ", ".join(f"{html.escape(n)} (IV {card.iv_[n]:.3f})" for n in left_out) or "none"
    return (
        "<h2>The card</h2><p>Points per bin: a higher weight of evidence (WoE) means a lower risk. "
        f"Each bin's WoE is smoothed by a prior of {card.woe_prior:g} pseudo-row(s) of the rarer outcome "
        "at the population's bad rate, so a bin with no bads or no goods gets a finite WoE "
        "and a bin with no rows WoE 0. Trend: of the bad rate as the value rises.</p>"
        f"{table_html(pd.DataFrame(rows), '{:.3f}')}{''.join(parts)}"
        f"<p>Binned but not in the card: {note}.</p>"
    )


def _plots(y: np.ndarray, p: np.ndarray, scores: np.ndarray, train_scores: np.ndarray) -> list[str]:
    """ROC, KS, score by outcome, calibration by grade and PSI, each as an ``<img>`` tag."""
    plots = []

    fig, ax = figure()
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, label=f"AUC {metrics.auc(y, p):.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (out of time)")
    ax.legend()
    plots.append(png(fig))

    fig, ax = figure()
    grid = np.sort(np.unique(p))
    bad = np.searchsorted(np.sort(p[y == 1]), grid, side="right") / max((y == 1).sum(), 1)
    good = np.searchsorted(np.sort(p[y == 0]), grid, side="right") / max((y == 0).sum(), 1)
    ax.plot(grid, bad, label="bads")
    ax.plot(grid, good, label="goods")
    ax.set(xlabel="PD", ylabel="cumulative share", title=f"KS {metrics.ks(y, p):.3f}")
    ax.legend()
    plots.append(png(fig))

    fig, ax = figure()
    bins = np.linspace(min(scores.min(), train_scores.min()), max(scores.max(), train_scores.max()), 30)
    ax.hist(scores[y == 0], bins=bins, alpha=0.6, density=True, label="good")
    ax.hist(scores[y == 1], bins=bins, alpha=0.6, density=True, label="bad")
    ax.set(xlabel="score", ylabel="density", title="Score by outcome (out of time)")
    ax.legend()
    plots.append(png(fig))

    calib = metrics.calibration_by_grade(y, p)
    fig, ax = figure()
    if len(calib):
        x = np.arange(len(calib))
        ax.bar(x - 0.2, calib["mean_pd"], width=0.4, label="mean PD")
        ax.bar(x + 0.2, calib["observed_rate"], width=0.4, label="observed")
        ax.errorbar(
            x + 0.2,
            calib["observed_rate"],
            yerr=[
                np.maximum(0, calib["observed_rate"] - calib["jeffreys_low"]),
                np.maximum(0, calib["jeffreys_high"] - calib["observed_rate"]),
            ],
            fmt="none",
            c="k",
        )
        ax.set_xticks(x, calib["grade"])
    ax.set(xlabel="grade", ylabel="default rate", title="Calibration by grade (Jeffreys 95%)")
    ax.legend()
    plots.append(png(fig))

    psi_value = metrics.psi(train_scores, scores)
    fig, ax = figure()
    edges = np.unique(np.quantile(train_scores, np.linspace(0, 1, 11))[1:-1])
    e = np.bincount(np.searchsorted(edges, train_scores, side="right"), minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, scores, side="right"), minlength=len(edges) + 1)
    x = np.arange(len(e))
    ax.bar(x - 0.2, e / e.sum(), width=0.4, label="training")
    ax.bar(x + 0.2, a / max(a.sum(), 1), width=0.4, label="out of time")
    ax.set(xlabel="training score decile", ylabel="share", title=f"PSI {psi_value:.4f}")
    ax.legend()
    plots.append(png(fig))

    return plots


def validation_report(
    title: str,
    entry: dict[str, Any],
    y: np.ndarray,
    pd_values: np.ndarray,
    scores: np.ndarray,
    train_scores: np.ndarray,
    extra: str = "",
) -> str:
    """The HTML page of a model validated on an out-of-time sample (``y``, ``pd_values``,
    ``scores``) against its training scores (``train_scores``, for stability)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(pd_values, dtype=float)
    plots = _plots(y, p, scores, train_scores)
    calib = metrics.calibration_by_grade(y, p)
    m = entry.get("metrics", {})
    headline = pd.DataFrame([{k: v for k, v in m.items() if isinstance(v, int | float)}])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} table.t{{border-collapse:collapse}}
table.t td,table.t th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}}
img{{margin:4px}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>Model <code>{html.escape(str(entry.get("model_id")))}</code> ({html.escape(str(entry.get("kind")))}),
SHA-256 <code>{html.escape(str(entry.get("sha256")))}</code>, status {html.escape(str(entry.get("status")))};
trained on applications {html.escape(str(entry.get("training_window")))}.</p>
<h2>Headline (out of time)</h2>{table_html(headline)}
<h2>Calibration by grade</h2>{table_html(calib)}
<h2>Plots</h2>{"".join(plots)}
{extra}
</body></html>
"""
