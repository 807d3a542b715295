"""The report's portfolio sections for risk managers: the provision by stage and grade at the
latest assessed month end and over time, the movement bridge as a waterfall, staging
effectiveness against the defaults that followed, and the models' health."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from models.report import figure, png, table_html
from pipelines.config import Settings
from pipelines.portfolio.book import BankBooks
from pipelines.portfolio.measures import backtest, staging_effectiveness
from pipelines.portfolio.tables import read_months
from pipelines.portfolio.views import health_table
from pipelines.readable import percent


def _key(name: str, value: Any) -> str:
    return f'<b data-key="{html.escape(name)}">{html.escape(str(value))}</b>'


def _yuan(fen: pd.Series) -> pd.Series:
    """Amounts in fen as whole yuan with thousands separators, for a table people read."""
    return (fen / 100).map("{:,.0f}".format)


def _by(frame: pd.DataFrame, key: str, label: str) -> pd.DataFrame:
    g = frame.groupby(key).agg(loans=("loan_id", "size"), ead=("ead_fen", "sum"), ecl=("ecl_fen", "sum"))
    g = g.reset_index()
    coverage = g["ecl"] / g["ead"].clip(lower=1)
    return pd.DataFrame({
        label: g[key], "Loans": g["loans"], "Exposure (CNY)": _yuan(g["ead"]),
        "Provision (CNY)": _yuan(g["ecl"]), "Coverage": coverage.map(lambda v: percent(v, 2)),
    })  # fmt: skip


def _backtest_rows(test: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Month end": test["as_of"], "Performing loans": test["loans"],
        "12-month ECL (CNY)": _yuan(test["ecl_12m_fen"]), "Defaults in the next 12 months": test["defaults"],
        "Realised loss (CNY)": _yuan(test["realised_loss_fen"]),
        "of which still recovering (CNY)": _yuan(test["loss_recovering_fen"]),
        "ECL / loss": test["ratio"].map("{:.2f}".format),
    })  # fmt: skip


def _reasons(counts: dict[str, int]) -> str:
    return "; ".join(f"{reason.replace('_', ' ')} {n:,}" for reason, n in counts.items())


def waterfall(moves: pd.DataFrame) -> str:
    """The month's bridge as a waterfall in millions of yuan: opening and closing as bars,
    each cause as a step labelled with its amount. The axis starts near the lowest level
    reached, not at zero, or a month's movements would be slivers on top of the book."""
    moves = moves.sort_values("step")
    fig, ax = figure()
    level, levels = 0.0, []
    for i, row in enumerate(moves.itertuples(index=False)):
        amount = row.amount_fen / 100 / 1e6
        if row.cause in ("opening", "closing"):
            ax.bar(i, amount, color="#4c72b0")
            level = amount
            ax.annotate(f"{amount:,.2f}", (i, amount), ha="center", va="bottom", fontsize=7)
        else:
            ax.bar(i, amount, bottom=level, color="#c44e52" if amount > 0 else "#55a868")
            if amount:
                ax.annotate(
                    f"{amount:+,.2f}", (i, max(level, level + amount)), ha="center", va="bottom", fontsize=7
                )
            level += amount
        levels.append(level)
    low, high = min(levels), max(levels)
    ax.set_ylim(max(0.0, low - (high - low) * 1.5 - 0.05 * high), high + (high - low) * 0.3 + 0.05 * high)
    ax.set_xticks(range(len(moves)), [c.replace("_", " ") for c in moves["cause"]], rotation=35, ha="right")
    ax.set(title=f"ECL movements to {moves['as_of'].iloc[0]}", ylabel="CNY million")
    return png(fig)


def _over_time(ecl: pd.DataFrame) -> str:
    pivot = (
        ecl.pivot_table(index="as_of", columns="stage", values="ecl_fen", aggfunc="sum", fill_value=0)
        / 100
        / 1e6
    )
    fig, ax = figure()
    bottom = np.zeros(len(pivot))
    for stage in pivot.columns:
        ax.bar([str(d)[:7] for d in pivot.index], pivot[stage], bottom=bottom, label=f"stage {stage}")
        bottom += pivot[stage].to_numpy()
    ax.tick_params(axis="x", rotation=90, labelsize=6)
    ax.set(title="Provision by stage, every month end", ylabel="CNY million")
    ax.legend()
    return png(fig)


def portfolio_section(settings: Settings) -> tuple[str, dict[str, Any]]:
    ecl = read_months(settings.lake_uri, "ecl")
    if not len(ecl):
        return (
            "<h2>Portfolio: stages and expected credit loss</h2><p>No month assessed yet.</p>",
            {},
        )
    ecl["as_of"] = pd.to_datetime(ecl["as_of"]).dt.date
    latest = ecl[ecl["as_of"] == ecl["as_of"].max()]
    total, ead = int(latest["ecl_fen"].sum()), int(latest["ead_fen"].sum())
    figures = {"ecl_yuan": round(total / 100), "ecl_loans": len(latest), "ecl_months": ecl["as_of"].nunique()}
    parts = [
        "<h2>Portfolio: stages and expected credit loss</h2>",
        f"<p>At {latest['as_of'].iloc[0]}: {_key('ecl_loans', len(latest))} loans, "
        f"exposure {ead / 100:,.0f} yuan, "
        f"provision {_key('ecl_yuan', f'{total / 100:,.0f}')} yuan ({total / max(ead, 1):.2%}); "
        f"{_key('ecl_months', figures['ecl_months'])} month ends assessed.</p>",
        "<h3>By stage</h3>", table_html(_by(latest, "stage", "Stage")),
        "<h3>By behaviour grade</h3>", table_html(_by(latest, "grade", "Grade")),
        _over_time(ecl),
    ]  # fmt: skip
    moves = read_months(settings.lake_uri, "ecl_movements")
    if len(moves):
        moves["as_of"] = pd.to_datetime(moves["as_of"]).dt.date
        month = moves[moves["as_of"] == moves["as_of"].max()]
        month = month.sort_values("step")
        bridge_rows = pd.DataFrame({
            "Step": month["cause"].str.replace("_", " "), "Amount (CNY)": _yuan(month["amount_fen"]),
            "Loans": month["loans"],
        })  # fmt: skip
        parts += ["<h3>What moved the provision</h3>", waterfall(month), table_html(bridge_rows)]
    parts += _effectiveness(settings, ecl, figures)
    parts += _health(settings)
    return "".join(parts), figures


def _effectiveness(settings: Settings, ecl: pd.DataFrame, figures: dict[str, Any]) -> list[str]:
    try:
        books = BankBooks.read(settings.bank_uri)
    except Exception as exc:  # the bank's books are not reachable: say so, keep the rest
        return [f"<h3>Staging effectiveness</h3><p>{html.escape(str(exc))}</p>"]
    eff = staging_effectiveness(ecl, books)
    test = backtest(ecl, books)
    share = eff["in_stage_2_or_3_three_months_before"]
    figures["staging_effectiveness"] = round(share, 3) if share == share else None
    mean_ratio = float(test["ratio"].mean()) if len(test) else float("nan")
    return [
        "<h3>Staging effectiveness</h3>",
        f"<p>Of {eff['defaults_scored']} loans that defaulted (assessed three months before), "
        f"{_key('staging_effectiveness', f'{share:.1%}')} were in stage 2 or 3 three months before default; "
        f"stage 2 held {eff['stage_2_share_of_performing_mean']:.1%} of performing loans on average "
        f"(at most {eff['stage_2_share_of_performing_max']:.1%}). Loan-months by the rule that set "
        f"their stage, over all months: {html.escape(_reasons(eff['stage_reasons']))}.</p>",
        "<h3>Back-test: 12-month ECL against the losses of the next 12 months</h3>",
        f"<p>Mean ratio {_key('backtest_ratio', f'{mean_ratio:.2f}')} over {len(test)} month ends.</p>",
        table_html(_backtest_rows(test)) if len(test) else "",
    ]


def _health(settings: Settings) -> list[str]:
    health = read_months(settings.lake_uri, "model_monitoring")
    if not len(health):
        return ["<h3>Model health</h3><p>Not assessed yet.</p>"]
    health["as_of"] = pd.to_datetime(health["as_of"]).dt.date
    latest = health[health["as_of"] == health["as_of"].max()]
    psi = health[health["metric"] == "psi"].pivot_table(index="as_of", columns="family", values="value")
    fig, ax = figure()
    for family in psi.columns:
        ax.plot([str(d)[:7] for d in psi.index], psi[family], marker="o", label=family)
    ax.axhline(0.25, color="#c44e52", linestyle="--", label="breach")
    ax.tick_params(axis="x", rotation=90, labelsize=6)
    ax.set(title="PSI of the PDs against development", ylabel="PSI")
    ax.legend()
    shown = latest[latest["metric"].isin(["psi", "calibration", "missing", "overrides"]) | latest["breach"]]
    return [
        "<h3>Model health</h3>",
        f"<p>{_key('model_breaches', int(latest['breach'].sum()))} breaches at {latest['as_of'].iloc[0]} "
        f"({int(health['breach'].sum())} over all months, each sent to the model owner).</p>",
        png(fig),
        "<p>PSI and CSI compare the month's distribution with the development sample (a breach "
        "above 0.25, tested only over at least 100 rows: pre-loan pools the months before until "
        "it has 100 applications); calibration is the Jeffreys test of each grade's default rate against its "
        "PD once labels matured (a breach when its p-value is below the level); missing and "
        "overrides are shares of the month's rows.</p>",
        table_html(health_table(shown)),
    ]


