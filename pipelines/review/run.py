"""Running the in-loan review over days: each day's scored applications are checked
against the chain (``Reviewer``), decided by the rule table and written to
``<lake>/reviews/in_loan/applied_month=YYYY-MM/day-YYYY-MM-DD.parquet`` (``pipelines.day_partitions``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from pipelines.books import read_bank
from pipelines.calendar import as_date, sealed_cutoff
from pipelines.config import Settings
from pipelines.day_partitions import IN_LOAN_REVIEWS, read_days, write_day
from pipelines.review.checks import Case, Check, run_checks
from pipelines.review.rules import Rules
from pipelines.review.view import ChainView, ViewIndex, items, load_view
from pipelines.schemas import REVIEW_SCHEMA


class Reviewer:
    """The checks of applications against one batch's view of the chain."""

    def __init__(self, view: ChainView, rules: Rules, bank_name: str) -> None:
        self.index, self.rules, self.bank = ViewIndex(view), rules, bank_name

    def review(self, app: dict[str, Any], earlier_offers: dict[str, str]) -> dict[str, Check]:
        """Every check of ``app`` as of the end of its application day, by name."""
        day = as_date(app["applied_on"])
        case = Case(
            app=app,
            day=day,
            cutoff=sealed_cutoff(day),
            view=self.index.for_application(app),
            thresholds=self.rules.thresholds,
            bank=self.bank,
            earlier=earlier_offers,
        )
        return run_checks(case)


def review_uri(lake_uri: str, day: date) -> str:
    return IN_LOAN_REVIEWS.uri(lake_uri, day)


def review_days(
    lake_uri: str,
    applications: pd.DataFrame,
    scores: pd.DataFrame,
    days: Sequence[date],
    rules: Rules,
    bank_name: str,
) -> dict[date, int]:
    """Review the scored applications of each of ``days`` and (re)write each day's partition."""
    apps = applications.copy()
    apps["day"] = [as_date(d) for d in apps["applied_on"]]
    scored = apps.merge(scores[["application_id", "pd", "grade"]], on="application_id", how="inner")
    wanted = scored[scored["day"].isin(set(days))]
    counts: dict[date, int] = {}
    if not wanted.empty:
        offered = [r for rs in wanted["collateral_receipts"] for r in items(rs)]
        view = load_view(
            lake_uri, wanted["firm_id"].tolist(), offered, min(days), max(days), rules.thresholds
        )
        reviewer = Reviewer(view, rules, bank_name)
    earlier = _offers_before(apps)
    for day in sorted(days):
        todays = wanted[wanted["day"] == day].sort_values("application_id")
        if todays.empty:
            write_day(IN_LOAN_REVIEWS, lake_uri, day, None)
            counts[day] = 0
            continue
        rows = []
        for app in todays.to_dict("records"):
            checks = reviewer.review(app, earlier.get(app["application_id"], {}))
            rows.append(_row(app, day, checks, rules))
        write_day(IN_LOAN_REVIEWS, lake_uri, day, pa.Table.from_pylist(rows, schema=REVIEW_SCHEMA))
        counts[day] = len(rows)
    return counts


def _row(app: dict[str, Any], day: date, checks: dict[str, Check], rules: Rules) -> dict[str, Any]:
    """The review table's row of ``app``: its decision, failed and warned checks, reasons and
    every check's result, finding, figures and evidence."""
    decision, why = rules.decide(checks, app.get("grade"))
    detail = {n: c.to_dict() for n, c in checks.items()}
    return {
        "application_id": str(app["application_id"]),
        "firm_id": str(app["firm_id"]),
        "applied_on": day,
        "amount_fen": int(app["amount_fen"]),
        "pd": float(app["pd"]),
        "grade": str(app["grade"]),
        "decision": decision,
        "decision_reason": why,
        "failed_checks": [n for n, c in checks.items() if c.result == "fail"],
        "warned_checks": [n for n, c in checks.items() if c.result == "warn"],
        "reasons": [f"{n}: {f}" for n, c in checks.items() if c.result != "pass" for f in c.findings],
        "checks": json.dumps(detail, sort_keys=True, default=str),
        "evidence_records": sum(len(d["evidence"]) for d in detail.values()),
        "reviewed_at": datetime.now(UTC),
    }


def _offers_before(apps: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Per application, the invoices offered by earlier applications (by application date,
    then id) and which application offered each first."""
    ordered = apps.sort_values(["day", "application_id"], kind="stable")
    seen: dict[str, str] = {}
    out: dict[str, dict[str, str]] = {}
    for app_id, invoices in zip(ordered["application_id"], ordered["invoice_nos"], strict=True):
        nos = items(invoices)
        out[str(app_id)] = {n: seen[n] for n in nos if n in seen}
        for n in nos:
            seen.setdefault(n, str(app_id))
    return out


def read_reviews(lake_uri: str) -> pd.DataFrame:
    """Every in-loan review in the lake (empty with the schema's columns when none)."""
    return read_days(IN_LOAN_REVIEWS, lake_uri, REVIEW_SCHEMA).to_pandas()


def run(settings: Settings, days: Sequence[str]) -> dict[str, int]:
    """Review ``days`` (ISO dates) with the settings' lake and bank books; the decisions per
    day and in total, for the task's log and XCom."""
    from pipelines.scoring import read_scores

    rules = Rules.load(settings.review_rules or None)
    apps = read_bank(settings.bank_uri, "applications")
    wanted = [date.fromisoformat(d) for d in days]
    counts = review_days(
        settings.lake_uri, apps, read_scores(settings.lake_uri), wanted, rules, settings.bank_name
    )
    return {"days": len(counts), "reviewed": sum(counts.values())}
