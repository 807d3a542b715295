"""``smecredit report``: one self-contained HTML page (plots as embedded PNG) for analysts and
risk managers, read from the lake and the bank's books.

Sections: verification and quarantine by source and reason; data quality; pre-loan scores
(distribution, grade table with observed default rates, top reason codes); in-loan
decisions and failing checks; alerts by severity and rule, and their delivery; evidence
packs of defaulted loans (and the NPL buyer's list); model
validation. The key figures carry ``data-key`` attributes, and a small script marks the page
``data-rendered="ok"`` once every plot has loaded (``data-errors`` lists script errors), so a
headless browser can check the page.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from models.registry import Registry, RegistryError, signature_problem
from models.report import figure, png, table_html
from models.signing import ModelKeys
from pipelines.books import BooksError, read_bank
from pipelines.config import Settings
from pipelines.lake import filesystem, write_atomic
from pipelines.model_keys import model_keys
from pipelines.model_warnings import PSI_LIMIT, model_warnings
from pipelines.monitor import read_alerts
from pipelines.monitor.outbox import Outbox
from pipelines.portfolio.report import portfolio_section
from pipelines.review import read_reviews
from pipelines.scoring import labels, read_scores

CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e)));
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  document.body.dataset.images = String(imgs.length);
  document.body.dataset.brokenImages = String(broken);
  document.body.dataset.errors = window.__errors.join(' | ');
  document.body.dataset.rendered = (broken === 0 && window.__errors.length === 0) ? 'ok' : 'failed';
});
</script>"""


def _table(lake_uri: str, name: str) -> pd.DataFrame:
    fs, root = filesystem(lake_uri)
    if not fs.exists(f"{root}/{name}"):
        return pd.DataFrame()
    return (
        ds.dataset(f"{root}/{name}", format="parquet", partitioning="hive", filesystem=fs)
        .to_table()
        .to_pandas()
    )


def _key(name: str, value: Any) -> str:
    return f'<b data-key="{html.escape(name)}">{html.escape(str(value))}</b>'


def _section(title: str, *parts: str, anchor: str = "") -> str:
    where = f' id="{anchor}"' if anchor else ""
    return f"<h2{where}>{html.escape(title)}</h2>" + "".join(parts)


def _bar(series: pd.Series, title: str, xlabel: str) -> str:
    """A bar chart of ``series``, or one sentence when a chart would carry no more than that
    (no bar, or a single one)."""
    if len(series) < 2:
        said = (
            ", ".join(
                f"{html.escape(str(k))} ({v:,} {xlabel[:-1] if v == 1 and xlabel.endswith('s') else xlabel})"
                for k, v in series.items()
            )
            or "none"
        )
        return f"<p>{html.escape(title)}: {said}.</p>"
    fig, ax = figure()
    ax.barh([str(i) for i in series.index][::-1], series.to_numpy()[::-1])
    ax.set(title=title, xlabel=xlabel)
    return png(fig)


def verification(lake_uri: str) -> tuple[str, dict[str, Any]]:
    log = _table(lake_uri, "ingest_log")
    if log.empty:
        return _section("Verification", "<p>Nothing ingested yet.</p>"), {}
    reasons: Counter[str] = Counter()
    rows = []
    for source, group in log.groupby("source"):
        by_reason: Counter[str] = Counter()
        for text in group["quarantined_by_reason"]:
            by_reason.update(json.loads(text))
        reasons.update(by_reason)
        rows.append(
            {
                "source": source,
                "bundles": len(group),
                "lines": int(group["lines"].sum()),
                "verified": int(group["verified"].sum()),
                "duplicates": int(group["duplicates"].sum()),
                "quarantined": int(group["quarantined"].sum()),
                "reasons": ", ".join(f"{k}={v}" for k, v in sorted(by_reason.items())) or "none",
            }
        )
    figures = {
        "bundles": len(log),
        "lines": int(log["lines"].sum()),
        "verified": int(log["verified"].sum()),
        "quarantined": int(log["quarantined"].sum()),
    }
    quality = {k: v for k, v in reasons.items() if k.startswith("quality:")}
    body = (
        f"<p>{_key('bundles', figures['bundles'])} bundles, {_key('lines', figures['lines'])} lines: "
        f"{_key('verified', figures['verified'])} verified and landed, "
        f"{_key('quarantined', figures['quarantined'])} quarantined (every line accounted for).</p>"
        + table_html(pd.DataFrame(rows))
        + _bar(pd.Series(dict(reasons.most_common(10))), "Quarantine by reason", "lines")
    )
    q = (
        f"<p>Validation: {int((log['validation'] == 'passed').sum())} bundles passed every expectation, "
        f"{int((log['validation'] == 'failed_rows').sum())} had rows quarantined by quality checks "
        f"({sum(quality.values())} rows: "
        + (", ".join(f"{k[8:]}={v}" for k, v in sorted(quality.items())) or "none")
        + ").</p>"
    )
    return _section("Verification and quarantine", body) + _section("Data quality", q), figures


def scores_section(settings: Settings) -> tuple[str, dict[str, Any]]:
    scores = read_scores(settings.lake_uri)
    if scores.empty:
        return _section("Pre-loan scores", "<p>No application scored yet.</p>"), {}
    fig, ax = figure()
    ax.hist(scores["score"], bins=30)
    ax.set(title="Score distribution", xlabel="score", ylabel="applications")
    plot = png(fig)
    grades = scores.groupby("grade").agg(applications=("application_id", "size"), mean_pd=("pd", "mean"))
    try:
        apps = read_bank(settings.bank_uri, "applications")
        lab = labels(apps, read_bank(settings.bank_uri, "loan_performance"))
        joined = scores.merge(lab, on="application_id")
        joined = joined[joined["observed"]]
        observed = joined.groupby("grade").agg(observed=("bad", "size"), defaults=("bad", "sum"))
        grades = grades.join(observed, how="left").fillna({"observed": 0, "defaults": 0})
        grades["observed_default_rate"] = np.where(
            grades["observed"] > 0, grades["defaults"] / grades["observed"].clip(lower=1), np.nan
        )
    except BooksError:
        pass
    reasons = pd.Series(Counter(r for r in scores["reason_1"] if r)).sort_values(ascending=False).head(10)
    figures = {"scored": len(scores), "mean_pd": float(scores["pd"].mean())}
    body = (
        f"<p>{_key('scored', len(scores))} applications scored, "
        f"mean PD {_key('mean_pd', format(figures['mean_pd'], '.2%'))}; "
        f"model {html.escape(str(scores['model_id'].iloc[-1]))}.</p>"
        + plot
        + "<h3>Grades and observed default rates (12 months, fully observed)</h3>"
        + table_html(grades.reset_index())
        + _bar(reasons, "Top reason codes (reason_1)", "applications")
        + (
            f"<p>The most frequent first reason, <code>{html.escape(str(reasons.index[0]))}</code>, "
            f"is <code>reason_1</code> of {int(reasons.iloc[0]):,} of the {len(scores):,} applications "
            f"({reasons.iloc[0] / len(scores):.0%}); a reason is a feature on which the applicant "
            "scores below the average applicant, stated in <code>reason_1_statement</code>.</p>"
            if len(reasons)
            else ""
        )
    )
    return _section("Pre-loan scores", body), figures


REVIEW_ROWS = 25
"""In-loan applications the report lists: the declined and referred ones first."""
_DECISION_ORDER = {"decline": 0, "refer": 1, "approve": 2}


def review_table(reviews: pd.DataFrame, limit: int = REVIEW_ROWS) -> str:
    """The in-loan applications to look at first: declined, then referred, then approved,
    newest first within each, at most ``limit``, each with the rule that decided and the
    findings of every check that did not pass; a caption says how many are not shown."""
    rank = reviews["decision"].map(_DECISION_ORDER).fillna(3)
    ordered = reviews.assign(_rank=rank).sort_values(
        ["_rank", "applied_on", "application_id"], ascending=[True, False, True], kind="stable"
    )
    shown = ordered.head(limit)
    rows = [
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (r.application_id, r.firm_id, r.applied_on, r.grade, r.decision, r.decision_reason)
        )
        + "<td>"
        + ("<br>".join(html.escape(str(x)) for x in r.reasons) or "every check passed")
        + "</td></tr>"
        for r in shown.itertuples()
    ]
    counts = reviews["decision"].value_counts()
    on_page = shown["decision"].value_counts()

    def part(decision: str, word: str) -> str:
        total, listed = int(counts.get(decision, 0)), int(on_page.get(decision, 0))
        return f"{'all ' if listed == total else f'{listed} of '}{total:,} {word}"

    hidden = len(reviews) - len(shown)
    caption = (
        f"{len(shown)} of {len(reviews):,} applications, newest first: "
        f"{part('decline', 'declined')}, {part('refer', 'referred')}, {part('approve', 'approved')}"
        + (
            f"; {hidden:,} not shown (every row: <code>smecredit export</code>, or the table "
            "<code>reviews/in_loan/</code>)."
            if hidden
            else "."
        )
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("application", "firm", "applied on", "grade", "decision", "rule that decided", "findings")
    )
    return f'<table class="t rev"><caption>{caption}</caption><tr>{head}</tr>{"".join(rows)}</table>'


def review_section(lake_uri: str) -> tuple[str, dict[str, Any]]:
    reviews = read_reviews(lake_uri)
    if reviews.empty:
        return _section("In-loan review", "<p>No application reviewed yet.</p>"), {}
    decisions = reviews["decision"].value_counts()
    failing = pd.Series(Counter(c for lst in reviews["failed_checks"] for c in lst)).sort_values(
        ascending=False
    )
    figures = {k: int(decisions.get(k, 0)) for k in ("approve", "refer", "decline")}
    body = (
        f"<p>{_key('reviewed', len(reviews))} applications reviewed: "
        f"{_key('approve', figures['approve'])} approve, "
        f"{_key('refer', figures['refer'])} refer, {_key('decline', figures['decline'])} decline.</p>"
        + _bar(failing, "Failing checks", "applications")
        + review_table(reviews)
    )
    return _section("In-loan review", body), figures


def alerts_section(lake_uri: str) -> tuple[str, dict[str, Any]]:
    alerts = read_alerts(lake_uri)
    if alerts.empty:
        return _section("Post-loan alerts", "<p>No alert raised yet.</p>"), {}
    live = alerts[alerts["status"] != "resolved"]
    pivot = live.pivot_table(
        index="rule", columns="severity", values="alert_id", aggfunc="count", fill_value=0
    )
    pivot = pivot[[c for c in ("critical", "warning", "info") if c in pivot.columns]]
    pivot.columns.name = None  # no empty header cell above the rules
    outbox = Outbox(lake_uri).read()
    sent = int((outbox["status"] == "sent").sum()) if len(outbox) else 0
    figures = {"open_alerts": len(live), "alerts": len(alerts), "messages_sent": sent}
    body = (
        f"<p>{_key('open_alerts', len(live))} open or acknowledged alerts "
        f"of {_key('alerts', len(alerts))} raised; "
        f"{_key('messages_sent', sent)} of {len(outbox)} digests delivered.</p>"
        + (table_html(pivot.reset_index()) if len(pivot) else "<p>No alert is open or acknowledged.</p>")
    )
    return _section("Post-loan alerts", body), figures


def evidence_section(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The evidence packs written for defaulted loans (docs/evidence.md), each checked again
    offline against the bank's trust policy, and the NPL buyer's list."""
    from attestations.errors import PolicyError
    from attestations.evidence import check_pack
    from attestations.policy import TrustPolicy
    from pipelines.evidence import evidence_root, npl_rows, read_pack_files

    rows = npl_rows(settings.lake_uri)
    if rows.empty:
        return _section("Evidence packs for defaulted loans", "<p>No evidence pack written yet.</p>"), {}
    try:
        policy: TrustPolicy | None = TrustPolicy.load(settings.trust_policy)
    except PolicyError:
        policy = None
    root = evidence_root(settings.lake_uri)
    rows["verifies"] = [check_pack(read_pack_files(f"{root}/{loan}"), policy).ok for loan in rows["loan_id"]]
    columns = ["loan_id", "borrower_firm_id", "balance_cny", "default_date", "records", "verifies"]
    shown = rows[columns].assign(pack_sha256=rows["pack_sha256"].str[:16] + "…")
    balance = format(rows["balance_fen"].sum() / 100, ",.2f")
    figures = {"evidence_packs": len(rows), "evidence_packs_verified": int(rows["verifies"].sum())}
    body = (
        f"<p>{_key('evidence_packs', len(rows))} packs written under {html.escape(root)}/, "
        f"{_key('evidence_packs_verified', figures['evidence_packs_verified'])} of them verify offline "
        f"against the trust policy; the NPL buyer's list is {html.escape(root)}/npl_buyer.csv "
        f"(balance outstanding {_key('npl_balance_cny', balance)} CNY).</p>" + table_html(shown)
    )
    return _section("Evidence packs for defaulted loans", body), figures


def _signature_state(entry: dict[str, Any], keys: ModelKeys | None) -> str:
    if keys is None:
        return "not checked (no key)"
    try:
        return signature_problem(entry, keys) or "valid"
    except RegistryError as exc:
        return str(exc)


def warnings_html(entries: list[dict[str, Any]]) -> str:
    """The models' warnings (``pipelines.model_warnings``) as a plain list, or a line saying
    that none of the checks failed."""
    found = model_warnings(entries)
    if not found:
        return (
            '<p class="ok">No model warning: calibration (Hosmer-Lemeshow, Jeffreys per grade), '
            f"grade order and stability (PSI at most {PSI_LIMIT:g}) hold out of time, and no "
            "challenger beats its champion.</p>"
        )
    items = "".join(
        f'<li data-check="{html.escape(w.check)}"><b>{html.escape(w.role)}</b> '
        f"<code>{html.escape(w.model_id)}</code>: {html.escape(w.finding)} {html.escape(w.meaning)}</li>"
        for w in found
    )
    return f'<div class="warn"><p><b>{len(found)} warning(s) about the models</b></p><ul>{items}</ul></div>'


def _report_link(models_uri: str, model_id: str, report_dir: Path | None) -> str:
    """A link to a model's validation report (``<models>/reports/<model_id>.html``), relative
    to the report's folder when both are local; empty when the report is not there."""
    uri = f"{models_uri.rstrip('/')}/reports/{model_id}.html"
    fs, path = filesystem(uri)
    if not fs.exists(path):
        return f"{html.escape(model_id)} (no report)"
    local = "://" not in uri or uri.startswith("file://")
    if local and report_dir is not None:
        href = os.path.relpath(Path(path).resolve(), report_dir.resolve())
    elif local:
        href = Path(path).resolve().as_uri()
    else:
        href = uri
    return f'<a href="{html.escape(href)}">{html.escape(model_id)}</a>'


def _models_table(entries: list[dict[str, Any]], rows_of: Any) -> str:
    frame = pd.DataFrame([rows_of(e) for e in entries])
    for column in frame.columns:
        if column != "model (validation report)":
            frame[column] = [
                html.escape(f"{v:.4f}" if isinstance(v, float) else str(v)) for v in frame[column]
            ]
    return str(frame.to_html(index=False, escape=False, border=0, classes="t"))


def models_section(models_uri: str, keys: ModelKeys | None = None, report_dir: Path | None = None) -> str:
    """The registry's entries: first the warnings about the current models, then their
    validation figures with a link to each validation report and whether each entry's
    signature verifies with the bank's model-signing key, whose public half is shown."""
    try:
        entries = Registry(models_uri).entries()
    except RegistryError as exc:
        return _section("Models", f"<p>{html.escape(str(exc))}</p>")
    signer = (
        f"<p>Model-signing key <code>{keys.keyid}</code> (Ed25519):</p>"
        f"<pre>{html.escape(keys.public_pem())}</pre>"
        if keys is not None
        else "<p>No model-signing key configured (SMECREDIT_MODEL_SIGNING_KEY): signatures not checked.</p>"
    )
    if not entries:
        return _section("Models", "<p>No model registered yet.</p>")

    def row(e: dict[str, Any]) -> dict[str, Any]:
        m = e["metrics"]
        top = m.get("top_reason_1")
        return {
            "model (validation report)": _report_link(models_uri, e["model_id"], report_dir),
            "status": e["status"],
            "trained on": f"{e['training_window']['from']} to {e['training_window']['to']}",
            **{k: m.get(k) for k in ("auc", "ks", "brier")},
            "Hosmer-Lemeshow p": m.get("hosmer_lemeshow_p"),
            "PSI": m.get("psi_train_vs_oot"),
            "grades monotone": m.get("grades_monotone"),
            "Jeffreys fails in": ", ".join(m.get("jeffreys_failed_grades") or [])
            or ("none" if "jeffreys_failed_grades" in m else "not recorded"),
            "most frequent reason_1": f"{top} ({m.get('top_reason_1_share', 0):.0%})" if top else "",
            "signature": _signature_state(e, keys),
        }

    thin = [
        f"{e['model_id']} (min_bads {e['metrics']['min_bads']})"
        for e in entries
        if e["metrics"].get("thin_data")
    ]
    thin_note = (  # pipelines.sizing: trained below the standard thresholds on a small world
        f"<p><strong>Thin data:</strong> {html.escape(', '.join(thin))} trained with fewer defaults than "
        "the standard 20 in training and 5 out of time; intervals are wide and the out-of-time "
        "figures say little.</p>"
        if thin
        else ""
    )
    return _section(
        "Models (out-of-time validation)",
        thin_note + warnings_html(entries),
        _models_table(entries, row),
        signer,
        anchor="models",
    )


def _headline(models_uri: str) -> str:
    """A line at the top of the page when the models have warnings."""
    try:
        found = model_warnings(Registry(models_uri).entries())
    except RegistryError:
        return ""
    if not found:
        return ""
    return (
        f'<div class="warn"><p><b>{len(found)} warning(s) about the models</b> in use '
        f'(calibration, grade order, stability or a stronger challenger): <a href="#models">see '
        "Models</a>.</p></div>"
    )


def build_report(settings: Settings, out: str | Path | None = None) -> tuple[str, dict[str, Any]]:
    """The report's page and its key figures; ``out`` (where it will be written) makes the
    links to the model reports relative to it."""
    parts: list[str] = []
    figures: dict[str, Any] = {}
    for text, f in (
        verification(settings.lake_uri),
        scores_section(settings),
        review_section(settings.lake_uri),
        alerts_section(settings.lake_uri),
        portfolio_section(settings),
        evidence_section(settings),
    ):
        parts.append(text)
        figures.update(f)
    try:
        keys = model_keys(settings)
    except ValueError as exc:  # a malformed key is shown, not fatal to the report
        parts.append(_section("Model-signing key", f"<p>{html.escape(str(exc))}</p>"))
        keys = None
    local_out = out is not None and "://" not in str(out)
    parts.append(models_section(settings.models_uri, keys, Path(str(out)).parent if local_out else None))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SME credit report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table.t{{border-collapse:collapse;margin:8px 0}} img{{margin:4px}}
table.t td,table.t th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}}
table.t caption{{caption-side:top;text-align:left;padding:4px 0;color:#333}}
div.warn{{background:#fff4e5;border-left:4px solid #e07b00;padding:4px 12px;margin:8px 0}}
div.warn li{{margin:4px 0}} p.ok{{color:#2a6e2a}}
table.rev td,table.rev th{{text-align:left}} table.rev td:nth-child(3){{white-space:nowrap}}</style>
{CHECK_SCRIPT}</head><body>
<h1>SME credit on chain-attested evidence</h1>
<p>Lake {html.escape(settings.lake_uri)}; generated {stamp}.</p>
{_headline(settings.models_uri)}
{"".join(parts)}
</body></html>
"""
    return page, figures


def write_report(settings: Settings, out: str | Path) -> dict[str, Any]:
    page, figures = build_report(settings, out)
    write_atomic(str(out), page.encode())
    return figures
