"""The conditions that hold on a day: every rule of the catalogue on every active loan."""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.config import Settings
from pipelines.monitor.evidence import attach_evidence
from pipelines.monitor.loans import Books
from pipelines.monitor.rules import (
    PLEDGE_GRACE_DAYS,
    REGISTRY,
    Catalogue,
    Condition,
    Context,
    coverage,
    receipt_status,
)


def conditions(
    settings: Settings,
    books: Books,
    catalogue: Catalogue,
    loans: pd.DataFrame,
    feats: pd.DataFrame,
    behaviour: pd.DataFrame,
    day: date,
    open_alerts: frozenset[tuple[str, str]] = frozenset(),
) -> list[Condition]:
    """Every (loan, rule) condition that holds on ``day``, with severity, figures and
    evidence, in loan order and then the catalogue's. A rule with hysteresis and a
    ``clear_below`` holds down to that level for a (loan, rule) in ``open_alerts``, so a value
    wavering around the threshold keeps one alert open instead of opening a new one each time."""
    rules = catalogue.rules
    at_application = books.scores[["application_id", "pd"]].drop_duplicates("application_id", keep="last")
    f = (
        loans.merge(feats, on="firm_id", how="left")
        .merge(
            behaviour[["loan_id", "pd", "score", "score_change", "model_role"]].rename(
                columns={"pd": "behaviour_pd"}
            ),
            on="loan_id",
            how="left",
        )
        .merge(at_application.rename(columns={"pd": "pd_at_application"}), on="application_id", how="left")
    )
    receipts = receipt_status(
        books.read,
        settings.lake_uri,
        [str(r) for rs in loans["collateral_receipts"] if rs is not None for r in rs],
        day,
    )
    cover = {}
    if "collateral_coverage" in rules:
        grace = int(rules["collateral_coverage"].get("grace_days", PLEDGE_GRACE_DAYS))
        cover = coverage(loans, receipts, settings.bank_name, day, grace)
    ctx = Context(rules, catalogue.haircut, open_alerts, cover)
    tests = [REGISTRY[name].test for name in rules]
    out: list[Condition] = []
    for row in f.itertuples(index=False):
        for test in tests:
            found = test(row, ctx)
            if found is not None:
                out.append(found)
    attach_evidence(books.read, settings.lake_uri, out, receipts, feats, day)
    return out
