"""IFRS 9 stages per loan at a month end, by the ordered rules of the policy: the first rule
that holds decides the stage and is named in ``stage_reason``. Stage 3 (credit-impaired):
defaulted, 90+ days past due, or an open critical alert of a rule that means impairment;
stage 2 (significant increase in credit risk): more than 30 days past due (the backstop),
lifetime PD against the lifetime PD expected at origination, a behaviour PD at the
monitor's critical level, or the watch list (an open critical alert); stage 1 otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

SEVERITY_ORDER = ("info", "warning", "critical")


def rule_holds(rule: dict[str, Any], loans: pd.DataFrame) -> np.ndarray:
    """Where ``rule`` holds for each loan. ``loans`` has ``status, dpd, pd_lifetime,
    pd_lifetime_at_origination, behaviour_pd`` and ``open_alerts`` (a list of (rule,
    severity) per loan)."""
    kind = rule["rule"]
    n = len(loans)
    if kind == "defaulted":
        return np.asarray(loans["status"] == "default")
    if kind in ("dpd_90", "dpd_30"):
        dpd = loans["dpd"].to_numpy()
        return np.asarray(dpd >= rule["threshold"] if kind == "dpd_90" else dpd > rule["threshold"])
    if kind == "sicr":
        now = loans["pd_lifetime"].to_numpy(dtype=float)
        then = loans["pd_lifetime_at_origination"].to_numpy(dtype=float)
        return np.asarray((now >= float(rule["relative"]) * then) & (now - then >= float(rule["absolute"])))
    if kind == "behaviour_pd":
        return np.asarray(loans["behaviour_pd"].fillna(0.0).to_numpy(dtype=float) >= float(rule["threshold"]))
    if kind == "credit_impaired":
        wanted = set(rule["alert_rules"])
        return np.array(
            [any(r in wanted and s == "critical" for r, s in a) for a in loans["open_alerts"]], bool
        )
    if kind == "watch_list":
        level = SEVERITY_ORDER.index(str(rule["severity"]))
        return np.array(
            [any(SEVERITY_ORDER.index(s) >= level for _, s in a) for a in loans["open_alerts"]], bool
        )
    return np.ones(n, dtype=bool)  # performing


def assign_stages(loans: pd.DataFrame, rules: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The stage and the deciding rule of every loan (the first rule in order that holds)."""
    n = len(loans)
    stage = np.zeros(n, dtype=np.int64)
    reason = np.full(n, "", dtype=object)
    for rule in rules:
        todo = stage == 0
        if not todo.any():
            break
        hit = todo & rule_holds(rule, loans)
        stage[hit] = int(rule["stage"])
        reason[hit] = rule["rule"]
    return stage, reason


def open_alerts_at(alerts: pd.DataFrame, as_of: date) -> dict[str, list[tuple[str, str]]]:
    """Per loan, the (rule, severity) of its alerts open at the end of ``as_of``: opened by
    then and not resolved by then. An alert escalated after ``as_of`` counts one severity
    lower (the table keeps only its latest severity)."""
    if not len(alerts):
        return {}
    day = pd.Timestamp(as_of)
    opened = pd.to_datetime(alerts["opened_on"])
    resolved = pd.to_datetime(alerts["resolved_on"])
    live = alerts[(opened <= day) & (resolved.isna() | (resolved > day))]
    escalated = pd.to_datetime(live["escalated_on"])
    out: dict[str, list[tuple[str, str]]] = {}
    for loan, rule, severity, later in zip(
        live["loan_id"], live["rule"], live["severity"], escalated.notna() & (escalated > day), strict=True
    ):
        level = SEVERITY_ORDER.index(str(severity)) - (1 if later else 0)
        out.setdefault(str(loan), []).append((str(rule), SEVERITY_ORDER[max(0, level)]))
    return out
