"""Model health between retrains, every month, for each champion (``models.metrics``):

- ``psi`` of the month's PDs against the development sample's (the applications, or the
  loan-months, of the model's training window), and ``csi`` of each scorecard feature over
  its bins (quantile bins when the model has none);
- ``calibration`` per grade as labels mature: the observed default rate of the cohorts whose
  outcome window closed by the month end (pre-loan: applications 12 to 24 months old, 12-month
  outcome; behaviour: loan-months 6 to 12 months old, 6-month outcome) against their mean PD,
  with the one-sided Jeffreys test;
- ``missing``: the share of the month's rows whose firm had no feature row (scored on the
  documented empty values), and ``overrides``: the share of the month's applications the
  in-loan review declined that were funded anyway.

A breach (PSI or CSI above its threshold, a grade failing the Jeffreys test) is queued as one
message to the model owner through the alert outbox, once per model and month.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from models import metrics
from models.registry import Loaded, Registry
from pipelines.config import Settings
from pipelines.model_keys import model_keys
from pipelines.monitor.outbox import Outbox
from pipelines.portfolio.book import BankBooks, add_months
from pipelines.portfolio.grades import behaviour_rows
from pipelines.portfolio.policy import Policy
from pipelines.portfolio.tables import read_months
from pipelines.portfolio.views import METRICS, health_value
from pipelines.readable import percent
from pipelines.scoring import labels, read_scores, with_features
from pipelines.scoring.behaviour import COLUMNS

EMPTY_HASH = hashlib.sha256(b"").hexdigest()
_DEVELOPMENT: dict[tuple[str, str], pd.DataFrame] = {}  # the last pre-loan development sample read


def _row(as_of: date, entry: dict[str, Any], metric: str, subject: str, value: float, threshold: float | None,
         breach: bool, n: int, **detail: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "as_of": as_of,
        "family": entry["family"],
        "model_id": entry["model_id"],
        "metric": metric,
        "subject": subject,
        "value": float(value) if value is not None and np.isfinite(value) else None,
        "threshold": threshold,
        "breach": bool(breach),
        "n": int(n),
        "detail": json.dumps(detail, sort_keys=True, default=str),
    }


def stability(
    as_of: date, loaded: Loaded, dev: pd.DataFrame, now: pd.DataFrame, policy: Policy, months: int = 1
) -> list[dict[str, Any]]:
    """PSI of the PDs and CSI per feature of ``now`` (the rows of the last ``months`` months)
    against ``dev`` (feature frames). With fewer than ``min_stability_count`` rows the indices
    are written but breach nothing: a small sample leaves quantile bins empty, and an empty bin
    alone adds about 0.7 to the index, so noise would pass 0.25."""
    entry, model, mon = loaded.entry, loaded.model, policy.monitoring
    if len(dev) < 2 or not len(now):
        return []
    enough = len(now) >= min_stability_count(policy)
    behaviour = entry["family"] == "behaviour"
    p_dev = model.predict_proba(dev[[c for c in COLUMNS if c in dev]] if behaviour else dev)[:, 1]
    p_now = model.predict_proba(now[[c for c in COLUMNS if c in now]] if behaviour else now)[:, 1]
    value = metrics.psi(p_dev, p_now)
    limit, warn = float(mon["psi_breach"]), float(mon.get("psi_warning", 0.1))
    rows = [
        _row(as_of, entry, "psi", "pd", value, limit, enough and value > limit, len(now),
             development_rows=len(dev), warning=value > warn, tested=enough, months=months)
    ]  # fmt: skip
    bins = getattr(model, "bins_", {})
    limit = float(mon["csi_breach"])
    for name in getattr(model, "features_", []):
        if name not in dev.columns or name not in now.columns:
            continue
        if name in bins:
            fb = bins[name]
            v = metrics.csi(fb.index(dev[name]), fb.index(now[name]), len(fb.bins))
        else:
            v = metrics.psi(
                pd.to_numeric(dev[name], errors="coerce").fillna(-1),
                pd.to_numeric(now[name], errors="coerce").fillna(-1),
            )
        rows.append(
            _row(
                as_of,
                entry,
                "csi",
                name,
                v,
                limit,
                enough and v > limit,
                len(now),
                tested=enough,
                months=months,
            )
        )
    return rows


def calibration(
    as_of: date, entry: dict[str, Any], y: np.ndarray, p: np.ndarray, policy: Policy
) -> list[dict[str, Any]]:
    """Per grade with at least ``min_grade_count`` matured rows: observed rate against mean PD."""
    mon = policy.monitoring
    if not len(y):
        return []
    table = metrics.calibration_by_grade(y, p, float(mon["jeffreys_level"]))
    rows = []
    for r in table.itertuples(index=False):
        enough = r.count >= int(mon["min_grade_count"])
        detail = {
            "bads": r.bads,
            "mean_pd": r.mean_pd,
            "observed_rate": r.observed_rate,
            "jeffreys_low": r.jeffreys_low,
            "jeffreys_high": r.jeffreys_high,
            "tested": enough,
        }
        level = round(1 - float(mon["jeffreys_level"]), 12)  # 0.05, not 0.050000000000000044
        breach = enough and not r.passed
        rows.append(
            _row(as_of, entry, "calibration", str(r.grade), r.p_value, level, breach, r.count, **detail)
        )
    return rows


def min_stability_count(policy: Policy) -> int:
    """Rows a stability index needs before it can breach (``monitoring.min_stability_count``,
    by default 100). With ten quantile bins and no shift at all, the index of a sample passes
    0.25 in 60% of draws of 34 rows, 9% of 70 rows and 1% of 100 rows
    (``tests/portfolio/test_health.py``)."""
    return int(policy.monitoring.get("min_stability_count", 100))


def pooled_months(applied_month: pd.Series, as_of: date, need: int, most: int) -> int:
    """How many months, ending with ``as_of``'s, hold at least ``need`` of the rows whose month
    (``YYYY-MM``) is ``applied_month``; at most ``most``."""
    counts = applied_month.value_counts()
    total = 0
    for k in range(1, most + 1):
        total += int(counts.get(f"{add_months(as_of, 1 - k):%Y-%m}", 0))
        if total >= need:
            return k
    return most


def _window(entry: dict[str, Any]) -> tuple[str, str]:
    """The model's training window as ISO dates (the registry's ``from`` and ``to``)."""
    w = entry.get("training_window") or {}
    if isinstance(w, dict):
        return str(w.get("from", "0000-00-00"))[:10], str(w.get("to", "9999-12-31"))[:10]
    return str(w[0])[:10], str(w[1])[:10]


def pre_loan_health(
    settings: Settings, policy: Policy, books: BankBooks, loaded: Loaded, as_of: date
) -> list[dict[str, Any]]:
    entry = loaded.entry
    apps = books.applications
    first, last = _window(entry)
    applied = apps["applied_on"].astype(str)
    applied_month = applied.str[:7]
    month = applied_month == f"{as_of:%Y-%m}"
    key = (settings.lake_uri, str(entry["model_id"]))
    if key not in _DEVELOPMENT:  # a model's development sample never changes: read it once
        _DEVELOPMENT.clear()
        _DEVELOPMENT[key] = with_features(settings.lake_uri, apps[(applied >= first) & (applied <= last)])
    dev = _DEVELOPMENT[key]
    now = with_features(settings.lake_uri, apps[month])
    # A month's applications are often too few for a stability index: the months before it
    # are pooled until they are enough (the row's detail says how many months).
    most = int(policy.monitoring.get("stability_months_max", 6))
    months = pooled_months(applied_month, as_of, min_stability_count(policy), most)
    first_month = f"{add_months(as_of, 1 - months):%Y-%m}"
    pooled = (applied_month >= first_month) & (applied_month <= f"{as_of:%Y-%m}")
    sample = now if months == 1 else with_features(settings.lake_uri, apps[pooled])
    rows = stability(as_of, loaded, dev, sample, policy, months)
    if len(now):
        missing = float((now["feature_row_hash"] == EMPTY_HASH).mean())
        rows.append(_row(as_of, entry, "missing", "all", missing, None, False, len(now)))
    perf = books.performance[books.performance["month_end"] <= as_of.isoformat()]
    scores = read_scores(settings.lake_uri)
    scores = scores[scores["model_id"] == entry["model_id"]]
    lab = labels(apps, perf)
    lo, hi = add_months(as_of, -24).isoformat(), add_months(as_of, -12).isoformat()
    cohort = scores.assign(applied=scores["applied_on"].astype(str))
    cohort = cohort[(cohort["applied"] > lo) & (cohort["applied"] <= hi)].merge(lab, on="application_id")
    cohort = cohort[cohort["observed"]]
    rows += calibration(as_of, entry, cohort["bad"].to_numpy(), cohort["pd"].to_numpy(), policy)
    rows.append(_overrides(settings, entry, apps[month], as_of))
    return rows


def _overrides(settings: Settings, entry: dict[str, Any], apps: pd.DataFrame, as_of: date) -> dict[str, Any]:
    from pipelines.review import read_reviews

    try:
        reviews = read_reviews(settings.lake_uri)
    except Exception:  # no review table yet
        reviews = pd.DataFrame(columns=["application_id", "decision"])
    r = apps.merge(reviews[["application_id", "decision"]], on="application_id")
    declined = r[r["decision"] == "decline"]
    share = float(declined["disbursed_on"].notna().sum() / len(r)) if len(r) else float("nan")
    return _row(
        as_of, entry, "overrides", "declined_but_funded", share, None, False, len(r), declined=len(declined)
    )


def behaviour_health(
    settings: Settings, policy: Policy, books: BankBooks, loaded: Loaded, as_of: date
) -> list[dict[str, Any]]:
    entry = loaded.entry
    hist = read_months(
        settings.lake_uri,
        "ecl",
        columns=["loan_id", "firm_id", "as_of", "status", "dpd", "behaviour_pd", "model_id"],
    )
    hist["as_of"] = pd.to_datetime(hist["as_of"]).dt.date
    running = hist[(hist["status"] != "default")]
    first, last = _window(entry)
    apps = books.applications[["loan_id", "disbursed_on"]]
    dev_rows = running[(running["as_of"].astype(str) >= first) & (running["as_of"].astype(str) <= last)]
    dev_rows = dev_rows.groupby("as_of").head(400)
    dev = (
        pd.concat(
            [
                behaviour_rows(settings.lake_uri, g.merge(apps, on="loan_id"), m)
                for m, g in dev_rows.groupby("as_of")
            ]
        )
        if len(dev_rows)
        else pd.DataFrame()
    )
    now_rows = running[running["as_of"] == as_of].merge(apps, on="loan_id")
    now = behaviour_rows(settings.lake_uri, now_rows, as_of) if len(now_rows) else pd.DataFrame()
    rows = stability(as_of, loaded, dev, now, policy)
    if len(now):
        missing = float((now["feature_row_hash"] == EMPTY_HASH).mean())
        rows.append(_row(as_of, entry, "missing", "all", missing, None, False, len(now)))
    horizon = policy.ecl.behaviour_horizon_months
    lo, hi = add_months(as_of, -2 * horizon), add_months(as_of, -horizon)
    cohort = running[
        (running["as_of"] > lo) & (running["as_of"] <= hi) & (running["model_id"] == entry["model_id"])
    ]
    d = books.defaults().set_index("loan_id")["month_end"]
    due = [add_months(m, horizon).isoformat() for m in cohort["as_of"]]
    when = cohort["loan_id"].map(d)
    y = np.array(
        [
            isinstance(w, str) and m.isoformat() < w <= e
            for w, m, e in zip(when, cohort["as_of"], due, strict=True)
        ],
        dtype=float,
    )
    rows += calibration(as_of, entry, y, cohort["behaviour_pd"].to_numpy(dtype=float), policy)
    return rows


def assess_models(settings: Settings, policy: Policy, books: BankBooks, as_of: date) -> pd.DataFrame:
    """The month's health rows for every champion in the registry."""
    from pipelines.schemas import MONITORING_SCHEMA

    registry = Registry(settings.models_uri, model_keys(settings))
    rows: list[dict[str, Any]] = []
    for entry in registry.entries():
        if entry["status"] != "champion" or entry["family"] not in ("pre_loan", "behaviour"):
            continue
        loaded = registry.load(entry["model_id"])
        check = pre_loan_health if entry["family"] == "pre_loan" else behaviour_health
        rows += check(settings, policy, books, loaded, as_of)
    return pd.DataFrame(rows, columns=MONITORING_SCHEMA.names)


def breach_line(metric: str, subject: str, value: float, threshold: float, n: int, detail: str) -> str:
    """One breach as the model owner reads it: the measure named, its value against the
    breach level, and the rows (and months, or defaults) behind it."""
    facts = json.loads(detail or "{}")
    what = METRICS.get(metric, metric)
    shown = health_value(metric, value)
    if metric == "calibration":
        line = f"- {what}, grade {subject}: {shown}, below {threshold:g}; {n:,} matured rows"
        if "observed_rate" in facts:
            line += (
                f", {facts['bads']} defaults: observed {percent(facts['observed_rate'], 2)} against a "
                f"mean PD of {percent(facts['mean_pd'], 2)}"
            )
        return line
    months = int(facts.get("months", 1))
    of = "" if metric == "psi" else f" {subject.replace('_', ' ')}"
    return f"- {what}{of}: {shown}, above {threshold:g} ({n:,} rows over {months} month{'s' * (months != 1)})"


def notify_breaches(lake_uri: str, policy: Policy, health: pd.DataFrame, as_of: date) -> int:
    """Queue one message per model with breaches this month to the model owner; return how
    many were new (a rerun of the month queues nothing)."""
    owner = policy.monitoring["owner"]
    messages = []
    for model_id, rows in health[health["breach"]].groupby("model_id"):
        lines = [f"Model health breaches for {model_id} at {as_of.isoformat()}", ""]
        ids = []
        for r in rows.itertuples(index=False):
            lines.append(breach_line(r.metric, r.subject, r.value, r.threshold, int(r.n), r.detail))
            ids.append(f"{r.metric}:{r.subject}")
        key = hashlib.sha256(
            f"email|{owner['id']}|{as_of.isoformat()}|{model_id}|{'|'.join(ids)}".encode()
        ).hexdigest()
        messages.append(
            {
                "message_id": key[:24],
                "idempotency_key": key,
                "channel": "email",
                "recipient": str(owner["email"]),
                "manager_id": str(owner["id"]),
                "day": as_of,
                "subject": f"[smecredit] {as_of.isoformat()}: {len(ids)} model health breaches, {model_id}",
                "body": "\n".join(lines) + "\n",
                "alert_ids": ids,
            }
        )
    return Outbox(lake_uri).add(messages) if messages else 0
