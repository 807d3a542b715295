"""Post-loan monitoring: a behaviour score and early-warning rules for every active loan,
with an alert lifecycle and an outbox of digests to risk managers.

A day's run (``monitor_day``):

1. active loans = disbursed by the day and not defaulted or repaid at the latest month end
   of the bank's books on or before it;
2. features as of the day (records sealed by its end) for their firms, and the behaviour
   score: the ``behaviour`` champion when one is registered, else the pre-loan champion
   (named in ``<lake>/scores/behaviour/``), with its change since disbursement;
3. the rule catalogue (``rules.json`` beside this module, or SMECREDIT_MONITOR_RULES) gives
   the conditions that hold today, each with severity, figures and evidence;
4. alerts keyed by (loan, rule): a condition with an open or acknowledged alert updates it
   (and escalates it when the severity rises), a new one opens an alert, an open alert whose
   condition no longer holds is resolved; written to ``<lake>/alerts/alerts.parquet``;
5. new and escalated alerts become one digest per risk manager and channel in the outbox
   (``pipelines.monitor.outbox``), each with an idempotency key, so a rerun adds nothing.

Days must be monitored in order: rerunning the last day is idempotent; an earlier day is
refused, because it would rewrite the alerts' history.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from attestations import strict_json
from models.registry import Registry, RegistryError
from pipelines.config import Settings
from pipelines.features import FEATURE_NAMES, InputStore, Reader, VerifiedCache, load_inputs, read_verified
from pipelines.features.compute import compute, month_number
from pipelines.lake import filesystem, write_parquet
from pipelines.model_keys import model_keys
from pipelines.monitor.outbox import Outbox, digests
from pipelines.scoring import as_date, read_bank, read_scores
from pipelines.scoring.behaviour import COLUMNS as BEHAVIOUR_COLUMNS
from pipelines.scoring.behaviour import months_on_book

RULES = Path(__file__).with_name("rules.json")
SEVERITIES = ("info", "warning", "critical")
STATUSES = ("open", "acknowledged", "resolved")
EVIDENCE_CAP = 50
# Days after disbursement within which an offered receipt not yet pledged on the chain is
# pending rather than lost (collateral_coverage).
PLEDGE_GRACE_DAYS = 30
HYSTERESIS = frozenset(
    {
        "sales_drop",
        "no_sales",
        "si_arrears",
        "hf_arrears",
        "headcount_down",
        "score_worsening",
        "behaviour_pd",
    }
)
"""The rules that fire at or above their threshold, and so may have a ``clear_below``."""

ALERT_SCHEMA = pa.schema(
    [
        pa.field("alert_id", pa.string(), nullable=False),
        pa.field("loan_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("manager_id", pa.string(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("opened_on", pa.date32(), nullable=False),
        pa.field("updated_on", pa.date32(), nullable=False),
        pa.field("escalated_on", pa.date32()),
        pa.field("resolved_on", pa.date32()),
        pa.field("acknowledged_by", pa.string()),
        pa.field("description", pa.string(), nullable=False),
        pa.field("figures", pa.string(), nullable=False),  # JSON
        pa.field("evidence", pa.string(), nullable=False),  # JSON list
    ]
)

BEHAVIOUR_SCHEMA = pa.schema(
    [
        pa.field("loan_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("pd", pa.float64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("score_at_disbursement", pa.float64()),
        pa.field("score_change", pa.float64()),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("model_role", pa.string(), nullable=False),
        pa.field("feature_row_hash", pa.string(), nullable=False),
    ]
)


class MonitorError(Exception):
    """A monitoring run cannot proceed; the message says why."""


@dataclass(frozen=True)
class Catalogue:
    haircut: float
    rules: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalogue:
        where = Path(path) if path else RULES
        try:
            doc = strict_json.load_path(where)
            rules = {r["rule"]: dict(r) for r in doc["rules"]}
            catalogue = cls(float(doc["collateral_haircut"]), rules)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MonitorError(f"monitor rules {where} are unreadable: {exc}") from None
        for name, r in rules.items():
            if r.get("severity") not in SEVERITIES or "threshold" not in r or "description" not in r:
                raise MonitorError(
                    f"monitor rules {where}: rule {name} needs severity, threshold, description"
                )
            if "clear_below" in r and name not in HYSTERESIS:
                raise MonitorError(
                    f"monitor rules {where}: rule {name} cannot have clear_below "
                    f"(only rules that fire at or above their threshold: {', '.join(sorted(HYSTERESIS))})"
                )
            if "clear_below" in r and not float(r["clear_below"]) <= float(r["threshold"]):
                raise MonitorError(f"monitor rules {where}: rule {name} has clear_below above its threshold")
        return catalogue


@dataclass
class Books:
    """The bank's tables and the pre-loan scores, read once per run of many days."""

    applications: pd.DataFrame
    performance: pd.DataFrame
    portfolio: pd.DataFrame
    managers: pd.DataFrame
    scores: pd.DataFrame
    read: Reader = read_verified
    """How the verified tables are read: ``read_verified``, or a ``VerifiedCache`` over the
    days of the run so that each table is read from the lake once."""
    inputs: InputStore | None = None
    """The feature input store the day's features are computed from; over many days, one
    that keeps the months it has read."""

    @classmethod
    def read_for(cls, settings: Settings, days: Sequence[date] = ()) -> Books:
        bank = settings.bank_uri
        return cls(
            read_bank(bank, "applications"),
            read_bank(bank, "loan_performance"),
            read_bank(bank, "portfolio"),
            read_bank(bank, "risk_managers"),
            read_scores(settings.lake_uri),
            VerifiedCache(settings.lake_uri, min(days), max(days)) if len(days) > 1 else read_verified,
            InputStore(settings.lake_uri, keep=len(days) > 1),
        )


def active_loans(books: Books, day: date) -> pd.DataFrame:
    """Loans disbursed by ``day`` and still running at the latest month end on or before it,
    with their manager, collateral, balance and days past due."""
    apps, perf, portfolio = books.applications, books.performance, books.portfolio
    apps = apps[apps["disbursed_on"].astype(str) <= day.isoformat()]
    perf = perf[perf["month_end"].astype(str) <= day.isoformat()]
    latest = perf.sort_values("month_end").drop_duplicates("loan_id", keep="last")
    loans = apps.merge(
        latest[["loan_id", "balance_fen", "dpd", "status", "month_end"]], on="loan_id", how="left"
    )
    loans = loans[~loans["status"].isin(["default", "repaid"])].copy()
    loans["balance_fen"] = loans["balance_fen"].fillna(loans["amount_fen"]).astype("int64")
    loans["dpd"] = loans["dpd"].fillna(0).astype("int64")
    managers = portfolio.drop_duplicates("loan_id", keep="last")[["loan_id", "manager_id"]]
    loans = loans.merge(managers, on="loan_id", how="left")
    loans["manager_id"] = loans["manager_id"].fillna("UNASSIGNED")
    return loans.sort_values("loan_id", ignore_index=True)


def _behaviour(
    settings: Settings, books: Books, loans: pd.DataFrame, feats: pd.DataFrame, day: date
) -> pd.DataFrame:
    registry = Registry(settings.models_uri, model_keys(settings))
    try:  # a behaviour champion that is there but refused (unsigned, altered) is an error
        family, role = registry.entry(family="behaviour")["family"], "behaviour champion"
    except RegistryError:
        family, role = "pre_loan", "pre-loan champion (no behaviour model yet)"
    loaded = registry.load(family=family)
    model = loaded.model
    rows = loans[["loan_id", "firm_id", "application_id", "dpd", "disbursed_on"]].merge(
        feats, on="firm_id", how="left"
    )
    rows["dpd"] = rows["dpd"].astype(float)
    rows["months_on_book"] = months_on_book(rows["disbursed_on"], day)
    X = rows[list(BEHAVIOUR_COLUMNS)]
    p_bad = model.predict_proba(X)[:, 1]
    score = model.points(X) if hasattr(model, "points") else np.full(len(rows), np.nan)
    pre = books.scores[["application_id", "score"]].rename(columns={"score": "at_disbursement"})
    rows = rows.assign(pd=p_bad, score=score).merge(pre, on="application_id", how="left")
    return pd.DataFrame(
        {
            "loan_id": rows["loan_id"].astype(str),
            "firm_id": rows["firm_id"].astype(str),
            "day": day,
            "pd": rows["pd"].astype(float),
            "score": rows["score"].astype(float),
            "score_at_disbursement": rows["at_disbursement"].astype(float),
            "score_change": (rows["score"] - rows["at_disbursement"]).astype(float),
            "model_id": loaded.entry["model_id"],
            "model_role": role,
            "feature_row_hash": rows["input_hash"].astype(str),
        }
    )


def _receipt_status(read: Reader, lake_uri: str, numbers: list[str], day: date) -> pd.DataFrame:
    if not numbers:
        return pd.DataFrame(
            columns=["receipt_no", "status", "pledgee", "value_fen", "record_id", "leaf_hash"]
        )
    t = read(
        lake_uri,
        "supply_chain",
        "warehouse_receipt",
        ["receipt_no", "status", "pledgee", "quantity", "unit_value_fen"],
        day,
        None,
        pc.field("receipt_no").isin(pa.array(sorted(set(numbers)), pa.string())),
    ).to_pandas()
    t["value_fen"] = t["quantity"].astype(float) * t["unit_value_fen"].astype(float)
    return t.sort_values(["height", "index"], kind="stable")


def _coverage(
    loans: pd.DataFrame, receipts: pd.DataFrame, bank: str, day: date, grace_days: int = PLEDGE_GRACE_DAYS
) -> dict[str, tuple[float, list[str], list[str]]]:
    """Per loan with collateral: the value of its offered receipts pledged to ``bank`` now
    (latest status of each receipt), the receipts offered, and those lost.

    A receipt is lost when it was pledged to the bank on the chain and no longer is, or when
    its pledge never reached the chain within ``grace_days`` of disbursement. A pledge
    is often sealed a few days after the loan is booked; until then the receipt is pending,
    not lost, so a new loan does not raise a collateral alert that the next run resolves.
    """
    pairs = loans[["loan_id", "collateral_receipts", "disbursed_on"]].explode("collateral_receipts").dropna()
    if not len(pairs):
        return {}
    pairs = pairs.assign(receipt_no=pairs["collateral_receipts"].astype(str))
    latest = receipts.drop_duplicates("receipt_no", keep="last")[
        ["receipt_no", "status", "pledgee", "value_fen"]
    ]
    m = pairs.merge(latest, on="receipt_no", how="left")
    ours = (m["status"] == "pledged") & (m["pledgee"] == bank)
    ever = receipts.loc[(receipts["status"] == "pledged") & (receipts["pledgee"] == bank), "receipt_no"]
    disbursed = pd.to_datetime(m["disbursed_on"].astype(str))
    grace_over = disbursed + pd.Timedelta(days=grace_days) <= pd.Timestamp(day)
    gone = ~ours & (m["receipt_no"].isin(set(ever)) | grace_over)
    value = m["value_fen"].where(ours, 0.0).groupby(m["loan_id"]).sum()
    offered = m.groupby("loan_id")["receipt_no"].agg(list)
    lost = m[gone].groupby("loan_id")["receipt_no"].agg(list)
    return {str(k): (float(value[k]), offered[k], lost.get(k, [])) for k in offered.index}


def conditions(
    settings: Settings,
    books: Books,
    catalogue: Catalogue,
    loans: pd.DataFrame,
    feats: pd.DataFrame,
    behaviour: pd.DataFrame,
    day: date,
    open_alerts: frozenset[tuple[str, str]] = frozenset(),
) -> list[dict[str, Any]]:
    """Every (loan, rule) condition that holds on ``day``, with severity, figures and the
    kind of evidence to attach. A rule of ``HYSTERESIS`` with ``clear_below`` has
    hysteresis: for a (loan, rule) in ``open_alerts`` its condition holds down to that
    level, so a value wavering around the threshold keeps one alert open instead of opening
    a new one each time."""
    rules = catalogue.rules
    f = loans.merge(feats, on="firm_id", how="left").merge(
        behaviour[["loan_id", "pd", "score", "score_change", "model_role"]].rename(
            columns={"pd": "behaviour_pd"}
        ),
        on="loan_id",
        how="left",
    )
    out: list[dict[str, Any]] = []

    def level(row: Any, rule: str) -> float:
        """``rule``'s threshold, or its ``clear_below`` while the loan's alert of it is open."""
        spec = rules[rule]
        held = "clear_below" in spec and (row.loan_id, rule) in open_alerts
        return float(spec["clear_below"] if held else spec["threshold"])

    def hit(
        row: Any,
        rule: str,
        value: float,
        figures: dict[str, Any],
        evidence: str,
        severity: str | None = None,
    ) -> None:
        spec = rules[rule]
        if severity is None:
            critical = "critical_at" in spec and value >= float(spec["critical_at"])
            severity = "critical" if critical else spec["severity"]
        out.append(
            {
                "loan_id": row.loan_id,
                "firm_id": row.firm_id,
                "manager_id": row.manager_id,
                "rule": rule,
                "severity": severity,
                "description": spec["description"],
                "figures": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()},
                "evidence_kind": evidence,
            }
        )

    receipts = _receipt_status(
        books.read,
        settings.lake_uri,
        [str(r) for rs in loans["collateral_receipts"] if rs is not None for r in rs],
        day,
    )
    cover = {}
    if "collateral_coverage" in rules:
        grace = int(rules["collateral_coverage"].get("grace_days", PLEDGE_GRACE_DAYS))
        cover = _coverage(loans, receipts, settings.bank_name, day, grace)
    for row in f.itertuples(index=False):
        if "sales_drop" in rules and row.sales_6m > 0:
            drop = 1 - (row.sales_3m / 3) / (row.sales_6m / 6)
            if drop >= level(row, "sales_drop"):
                hit(
                    row,
                    "sales_drop",
                    drop,
                    {"drop": drop, "sales_3m": row.sales_3m, "sales_6m": row.sales_6m},
                    "sales",
                )
        if "no_sales" in rules and row.days_since_last_sale >= level(row, "no_sales"):
            hit(
                row,
                "no_sales",
                row.days_since_last_sale,
                {"days_since_last_sale": row.days_since_last_sale},
                "sales",
            )
        for prefix in ("si", "hf"):
            rule = f"{prefix}_arrears"
            streak = getattr(row, f"{prefix}_arrears_streak")
            if rule in rules and streak >= level(row, rule):
                amount = getattr(row, f"{prefix}_arrears_amount_12m")
                hit(row, rule, streak, {"months": streak, "arrears_12m": amount}, prefix)
        if "headcount_down" in rules and -row.si_headcount_change_3m >= level(row, "headcount_down"):
            down = -row.si_headcount_change_3m
            hit(row, "headcount_down", down, {"down": down, "headcount": row.si_headcount}, "si")
        if row.loan_id in cover and row.balance_fen > 0:
            value, offered, lost = cover[row.loan_id]
            coverage = value * (1 - catalogue.haircut) / max(float(row.balance_fen), 1.0)
            if lost and coverage < float(rules["collateral_coverage"]["threshold"]):
                figures = {"coverage": coverage, "receipts_gone": lost, "balance_fen": int(row.balance_fen)}
                hit(
                    row,
                    "collateral_coverage",
                    coverage,
                    figures,
                    "receipts:" + ",".join(offered),
                    severity="critical",
                )
        if "lease_flight" in rules:
            days_left = row.months_to_lease_end * 30.44
            if row.lease_terminated_3m and row.no_active_lease:
                hit(
                    row,
                    "lease_flight",
                    0.0,
                    {"terminated_3m": True, "active_leases": 0},
                    "lease",
                    severity="critical",
                )
            elif not row.no_active_lease and days_left <= float(rules["lease_flight"]["threshold"]):
                hit(row, "lease_flight", days_left, {"days_to_lease_end": days_left}, "lease", "warning")
        if (
            "behaviour_pd" in rules
            and str(row.model_role).startswith("behaviour")
            and row.behaviour_pd >= level(row, "behaviour_pd")
        ):
            figures = {"pd": float(row.behaviour_pd), "score": float(row.score)}
            hit(row, "behaviour_pd", float(row.behaviour_pd), figures, "features")
        if "score_worsening" in rules and pd.notna(row.score_change):
            fall = -float(row.score_change)
            if fall >= level(row, "score_worsening"):
                hit(
                    row, "score_worsening", fall, {"points_down": fall, "score": float(row.score)}, "features"
                )
        dpd = int(row.dpd)
        for rule, lo, hi in (("dpd_1_30", 1, 30), ("dpd_31_60", 31, 60), ("dpd_61_90", 61, 90)):
            if rule in rules and lo <= dpd <= hi:
                hit(row, rule, float(dpd), {"dpd": dpd, "month_end": str(row.month_end)}, "books")
    _attach_evidence(books.read, settings.lake_uri, out, receipts, feats, day)
    return out


def _attach_evidence(
    read: Reader,
    lake_uri: str,
    found: list[dict[str, Any]],
    receipts: pd.DataFrame,
    feats: pd.DataFrame,
    day: date,
) -> None:
    """The attested records behind each condition (record ids and leaf hashes, newest first,
    at most ``EVIDENCE_CAP``), read once per kind for every firm that needs them."""
    since = month_number(day) - 6
    firms = {
        kind: sorted({c["firm_id"] for c in found if c["evidence_kind"] == kind})
        for kind in ("sales", "si", "hf", "lease")
    }
    frames: dict[str, pd.DataFrame] = {}
    reads = {
        "sales": ("supply_chain", "invoice", ["firm_id", "issued_on"]),
        "si": ("social_insurance", "contribution", ["firm_id", "period"]),
        "hf": ("housing_fund", "contribution", ["firm_id", "period"]),
        "lease": ("supply_chain", "lease", ["firm_id", "lease_no"]),
    }
    for kind, (source, table, cols) in reads.items():
        if firms[kind]:
            frames[kind] = (
                read(
                    lake_uri,
                    source,
                    table,
                    cols,
                    day,
                    since if kind != "lease" else None,
                    pc.field("firm_id").isin(pa.array(firms[kind], pa.string())),
                )
                .to_pandas()
                .sort_values(["height", "index"], ascending=False, kind="stable")
            )
    hashes = feats.set_index("firm_id")["input_hash"] if len(feats) else pd.Series(dtype=str)
    for c in found:
        kind = c.pop("evidence_kind")
        if kind in frames:
            rows = frames[kind][frames[kind]["firm_id"] == c["firm_id"]]
        elif kind.startswith("receipts:"):
            rows = receipts[receipts["receipt_no"].isin(kind.split(":", 1)[1].split(","))]
        elif kind == "features":
            c["evidence"] = [{"feature_input_hash": str(hashes.get(c["firm_id"], ""))}]
            continue
        else:
            c["evidence"] = [{"bank_books": "loan_performance", "loan_id": c["loan_id"]}]
            continue
        c["figures"]["evidence_records"] = len(rows)
        c["evidence"] = [
            {"record_id": str(r), "leaf_hash": str(h)}
            for r, h in zip(rows["record_id"][:EVIDENCE_CAP], rows["leaf_hash"][:EVIDENCE_CAP], strict=True)
        ]


def alerts_uri(lake_uri: str) -> str:
    return f"{lake_uri.rstrip('/')}/alerts/alerts.parquet"


def read_alerts(lake_uri: str) -> pd.DataFrame:
    fs, path = filesystem(alerts_uri(lake_uri))
    if not fs.exists(path):
        return ALERT_SCHEMA.empty_table().to_pandas()
    return pq.read_table(io.BytesIO(fs.cat_file(path))).to_pandas()


def write_alerts(lake_uri: str, alerts: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(
        alerts.sort_values(["opened_on", "alert_id"]), schema=ALERT_SCHEMA, preserve_index=False
    )
    write_parquet(alerts_uri(lake_uri), table)


def alert_id(loan_id: str, rule: str, opened_on: date) -> str:
    return hashlib.sha256(f"{loan_id}|{rule}|{opened_on.isoformat()}".encode()).hexdigest()[:20]


def update_alerts(
    alerts: pd.DataFrame, found: Sequence[dict[str, Any]], day: date, active: set[str] | None = None
) -> tuple[pd.DataFrame, list[tuple[dict[str, Any], str]]]:
    """Apply one day's conditions to the alerts; return the alerts and the day's events
    (``new`` or ``escalated``) to deliver. Open alerts of loans that are no longer active,
    or whose condition no longer holds, are resolved."""
    rows = {r["alert_id"]: dict(r) for r in alerts.to_dict("records")}
    live = {(r["loan_id"], r["rule"]): aid for aid, r in rows.items() if r["status"] != "resolved"}
    events: list[tuple[dict[str, Any], str]] = []
    seen: set[str] = set()
    for c in found:
        key = (c["loan_id"], c["rule"])
        figures = json.dumps(c["figures"], sort_keys=True, default=str)
        evidence = json.dumps(c.get("evidence", []), sort_keys=True)
        if key in live:
            row = rows[live[key]]
            seen.add(row["alert_id"])
            worse = SEVERITIES.index(c["severity"]) > SEVERITIES.index(row["severity"])
            if as_date(row["updated_on"]) < day or worse:
                if worse:
                    row["severity"], row["escalated_on"] = c["severity"], day
                    if row["status"] == "acknowledged":
                        row["status"] = "open"  # an escalation needs a new acknowledgement
                    events.append((row, "escalated"))
                row["updated_on"], row["figures"], row["evidence"] = day, figures, evidence
            elif as_date(row["escalated_on"] or date.min) == day:
                events.append((row, "escalated"))
            elif as_date(row["opened_on"]) == day:
                events.append((row, "new"))
            continue
        aid = alert_id(c["loan_id"], c["rule"], day)
        row = {
            "alert_id": aid,
            "loan_id": c["loan_id"],
            "firm_id": c["firm_id"],
            "manager_id": c["manager_id"],
            "rule": c["rule"],
            "severity": c["severity"],
            "status": "open",
            "opened_on": day,
            "updated_on": day,
            "escalated_on": None,
            "resolved_on": None,
            "acknowledged_by": None,
            "description": c["description"],
            "figures": figures,
            "evidence": evidence,
        }
        rows[aid] = row
        seen.add(aid)
        events.append((row, "new"))
    for aid, row in rows.items():
        if row["status"] != "resolved" and aid not in seen and as_date(row["opened_on"]) <= day:
            row["status"], row["resolved_on"], row["updated_on"] = "resolved", day, day
    frame = pd.DataFrame(list(rows.values()), columns=ALERT_SCHEMA.names) if rows else read_empty()
    return frame, events


def read_empty() -> pd.DataFrame:
    return ALERT_SCHEMA.empty_table().to_pandas()


def acknowledge(lake_uri: str, alert: str, by: str) -> dict[str, Any]:
    """Mark an open alert acknowledged by ``by``.

    Raises:
        MonitorError: no such alert, or it is resolved.
    """
    alerts = read_alerts(lake_uri)
    match = alerts["alert_id"] == alert
    if not match.any():
        raise MonitorError(f"no alert {alert}")
    if (alerts.loc[match, "status"] == "resolved").any():
        raise MonitorError(f"alert {alert} is resolved; nothing to acknowledge")
    alerts.loc[match, "status"] = "acknowledged"
    alerts.loc[match, "acknowledged_by"] = by
    write_alerts(lake_uri, alerts)
    return dict(alerts[match].iloc[0])


def behaviour_uri(lake_uri: str, day: date) -> str:
    return f"{lake_uri.rstrip('/')}/scores/behaviour/day={day.isoformat()}/part-0.parquet"


def monitor_day(
    settings: Settings, day: date, catalogue: Catalogue, webhook_url: str = "", books: Books | None = None
) -> dict[str, Any]:
    """Monitor every active loan on ``day``: behaviour scores, alerts, outbox digests."""
    books = books or Books.read_for(settings)
    alerts = read_alerts(settings.lake_uri)
    if len(alerts):
        last = max(as_date(d) for d in alerts["updated_on"])
        if day < last:
            raise MonitorError(
                f"alerts are already monitored through {last}; {day} is earlier "
                "and would rewrite their history"
            )
    loans = active_loans(books, day)
    feats = pd.DataFrame(columns=["firm_id", *FEATURE_NAMES, "input_hash"])
    found: list[dict[str, Any]] = []
    if len(loans):
        inputs = load_inputs(settings.lake_uri, day, books.inputs)
        feats, _ = compute(inputs, day, pd.Index(sorted(set(loans["firm_id"]))))
        behaviour = _behaviour(settings, books, loans, feats, day)
        table = pa.Table.from_pandas(behaviour, schema=BEHAVIOUR_SCHEMA, preserve_index=False)
        write_parquet(behaviour_uri(settings.lake_uri, day), table)
        live = alerts[alerts["status"] != "resolved"] if len(alerts) else alerts
        open_alerts = frozenset(zip(live["loan_id"], live["rule"], strict=True)) if len(live) else frozenset()
        found = conditions(settings, books, catalogue, loans, feats, behaviour, day, open_alerts)
    updated, events = update_alerts(alerts, found, day)
    write_alerts(settings.lake_uri, updated)
    queued = Outbox(settings.lake_uri).add(digests(events, books.managers, day, webhook_url))
    status = updated["status"].value_counts().to_dict() if len(updated) else {}
    return {
        "day": day.isoformat(),
        "active_loans": len(loans),
        "conditions": len(found),
        "new": sum(1 for _, e in events if e == "new"),
        "escalated": sum(1 for _, e in events if e == "escalated"),
        "open": int(status.get("open", 0)),
        "queued_messages": queued,
    }


def monitor_days(
    settings: Settings, days: Sequence[date], catalogue: Catalogue, webhook_url: str = ""
) -> list[dict[str, Any]]:
    books = Books.read_for(settings, days)
    return [monitor_day(settings, d, catalogue, webhook_url, books) for d in sorted(days)]


def weekly(first: date, last: date) -> list[date]:
    """Every 7th day from ``first`` to ``last`` (a cheaper cadence for backfills)."""
    return [first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)]
