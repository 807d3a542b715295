"""How well the in-loan review catches the simulator's planted misbehaviour (ground truth in
``<world>/truth/planted_cases.parquet``): recall and false-positive rate per kind."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

# Which failing (or, for headcount, warning too) checks count as catching each kind.
CAUGHT_BY: dict[str, tuple[str, ...]] = {
    "double_pledge": ("collateral",),
    "fake_trade": ("receivables", "trade_authenticity"),
    "circular_trade": ("circular_trade",),
    "headcount_inflation": ("headcount",),
}


def _invoice_month(no: str) -> date:
    return date(int(no[3:7]), int(no[7:9]), 1)


def positives(cases: pd.DataFrame, reviews: pd.DataFrame) -> dict[str, set[str]]:
    """Per kind, the reviewed applications the truth says are affected:
    double pledges and headcount inflation name their application; a fake trader's
    application follows its fake invoices by at most 4 months; a ring member's application
    has a ring invoice in the 12 months before it."""
    apps = reviews[["application_id", "firm_id", "applied_on"]].copy()
    apps["day"] = [d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for d in apps["applied_on"]]
    out: dict[str, set[str]] = {k: set() for k in CAUGHT_BY}
    for case in cases.to_dict("records"):
        kind, refs, firms = case["kind"], list(case["refs"]), set(case["firm_ids"])
        if kind in ("double_pledge", "headcount_inflation"):
            out[kind] |= set(refs) & set(apps["application_id"])
        elif kind in ("fake_trade", "circular_trade"):
            months = [_invoice_month(r) for r in refs]
            reach = 130 if kind == "fake_trade" else 365
            for app in apps[apps["firm_id"].isin(firms)].to_dict("records"):
                if any(m <= app["day"] <= m + timedelta(days=reach) for m in months):
                    out[kind].add(app["application_id"])
    return out


def evaluate(cases: pd.DataFrame, reviews: pd.DataFrame) -> pd.DataFrame:
    """Per kind: planted applications, caught, recall, flagged negatives, false-positive rate."""
    truth = positives(cases, reviews)
    rows = []
    for kind, checks in CAUGHT_BY.items():
        statuses = ("failed_checks", "warned_checks") if kind == "headcount_inflation" else ("failed_checks",)
        flagged = {
            app_id
            for app_id, *lists in zip(reviews["application_id"], *(reviews[s] for s in statuses), strict=True)
            if any(c in checks for lst in lists for c in list(lst))
        }
        pos = truth[kind]
        neg = set(reviews["application_id"]) - pos
        caught = len(pos & flagged)
        rows.append(
            {
                "kind": kind,
                "planted": len(pos),
                "caught": caught,
                "recall": caught / len(pos) if pos else float("nan"),
                "false_positives": len(neg & flagged),
                "false_positive_rate": len(neg & flagged) / len(neg) if neg else float("nan"),
            }
        )
    return pd.DataFrame(rows)
