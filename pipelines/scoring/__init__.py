"""Pre-loan scoring: training sets from the bank's books and the feature snapshots, model
training with out-of-time validation, and the daily score table.

An application on day D is scored on the features as of the last month end before D
(``features_as_of``), in training and in scoring alike, so the model never sees a record
sealed after the application. Labels: bad = 90+ days past due within 12 months of
disbursement; an application whose 12 months are not fully observed in the loan performance
table is left out of training.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from models import metrics
from models.challenger import Challenger
from models.registry import Registry, identify
from models.report import validation_report
from models.scorecard import Scorecard
from models.signing import ModelKeys
from pipelines.features import (
    FEATURE_NAMES,
    FeatureError,
    build_snapshot,
    month_end_on_or_before,
    read_snapshot,
)
from pipelines.features.catalogue import EMPTY
from pipelines.lake import filesystem, read_parquet_files, write_parquet

FAMILY = "pre_loan"
LABEL_MONTHS = 12
BAD_DPD = 90
REASONS = 4

SCORE_SCHEMA = pa.schema(
    [
        pa.field("application_id", pa.string(), nullable=False),
        pa.field("firm_id", pa.string(), nullable=False),
        pa.field("applied_on", pa.date32(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("pd", pa.float64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("grade", pa.string(), nullable=False),
        *(pa.field(f"reason_{k}", pa.string()) for k in range(1, REASONS + 1)),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("model_sha256", pa.string(), nullable=False),
        pa.field("feature_row_hash", pa.string(), nullable=False),
        pa.field("scored_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


class ScoringError(Exception):
    """Training or scoring cannot proceed; the message says why."""


def read_bank(bank_uri: str, table: str) -> pd.DataFrame:
    """One of the bank's own tables (applications, loan_performance, portfolio, ...)."""
    fs, root = filesystem(bank_uri)
    path = f"{root}/{table}.parquet"
    if not fs.exists(path):
        raise ScoringError(f"the bank's {table} table is missing at {bank_uri}/{table}.parquet")
    return pq.read_table(io.BytesIO(fs.cat_file(path))).to_pandas()


def features_as_of(applied_on: date) -> date:
    """The snapshot an application of ``applied_on`` is scored on: the last month end before it."""
    return month_end_on_or_before(applied_on - timedelta(days=1))


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    last = pd.Timestamp(year=d.year + y, month=m + 1, day=1).days_in_month
    return date(d.year + y, m + 1, min(d.day, last))


def labels(applications: pd.DataFrame, performance: pd.DataFrame) -> pd.DataFrame:
    """Per application: ``bad`` (90+ dpd within 12 months of disbursement) and ``observed``
    (the performance table reaches 12 months after disbursement)."""
    perf = performance.copy()
    perf["month_end"] = pd.to_datetime(perf["month_end"])
    through = perf["month_end"].max() if len(perf) else pd.Timestamp("1970-01-01")
    apps = applications[["application_id", "loan_id", "disbursed_on"]].copy()
    apps["horizon"] = pd.to_datetime(
        [_add_months(date.fromisoformat(d), LABEL_MONTHS) for d in apps["disbursed_on"]]
    )
    joined = apps.merge(perf[["loan_id", "month_end", "dpd"]], on="loan_id", how="left")
    within = joined["month_end"] <= joined["horizon"]
    joined["bad_row"] = within & (joined["dpd"] >= BAD_DPD)
    bad = joined.groupby("application_id")["bad_row"].any()
    out = apps[["application_id", "horizon"]].set_index("application_id")
    out["bad"] = bad.reindex(out.index).fillna(False).astype(int)
    out["observed"] = out["horizon"] <= through
    return out.drop(columns="horizon").reset_index()


def _ensure_snapshots(lake_uri: str, months: Sequence[date]) -> dict[date, pd.DataFrame]:
    out = {}
    for as_of in sorted(set(months)):
        try:
            out[as_of] = read_snapshot(lake_uri, as_of)
        except FeatureError:
            build_snapshot(lake_uri, as_of)
            out[as_of] = read_snapshot(lake_uri, as_of)
    return out


def as_date(value: Any) -> date:
    """A date from a ``date`` or its ISO text (a timestamp's text keeps its date)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def join_features(lake_uri: str, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (with ``firm_id`` and ``as_of``) with every feature of their firm's snapshot of
    that month end and ``feature_row_hash``; a firm missing from its snapshot gets the
    documented empty values (and the hash of no inputs)."""
    snaps = _ensure_snapshots(lake_uri, list(rows["as_of"]))
    parts = []
    for as_of, group in rows.groupby("as_of", sort=True):
        snap = snaps[as_of].drop(columns=["as_of"]).rename(columns={"input_hash": "feature_row_hash"})
        parts.append(group.merge(snap, on="firm_id", how="left"))
    merged = pd.concat(parts, ignore_index=True) if parts else rows.assign(feature_row_hash="")
    for name in FEATURE_NAMES:
        merged[name] = merged[name].fillna(EMPTY[name]) if name in merged else EMPTY[name]
    merged["feature_row_hash"] = merged["feature_row_hash"].fillna(hashlib.sha256(b"").hexdigest())
    return merged


def with_features(lake_uri: str, applications: pd.DataFrame) -> pd.DataFrame:
    """``applications`` with ``as_of`` (``features_as_of`` their application day), every
    feature and ``feature_row_hash`` (``join_features``)."""
    apps = applications.copy()
    apps["as_of"] = [features_as_of(as_date(d)) for d in apps["applied_on"]]
    return join_features(lake_uri, apps)


@dataclass(frozen=True)
class TrainingResult:
    champion: dict[str, Any]
    challenger: dict[str, Any]
    train_rows: int
    test_rows: int


def training_set(lake_uri: str, bank_uri: str) -> pd.DataFrame:
    """Labelled, fully observed applications with their features, in application order."""
    apps = read_bank(bank_uri, "applications")
    labelled = apps.merge(labels(apps, read_bank(bank_uri, "loan_performance")), on="application_id")
    labelled = labelled[labelled["observed"]].sort_values(["applied_on", "application_id"], ignore_index=True)
    if labelled.empty:
        raise ScoringError("no application has a fully observed 12-month outcome yet; nothing to train on")
    return with_features(lake_uri, labelled)


def train(
    lake_uri: str,
    bank_uri: str,
    models_uri: str,
    oot_share: float = 0.3,
    min_bads: tuple[int, int] = (20, 5),
    keys: ModelKeys | None = None,
) -> TrainingResult:
    """Train the scorecard (champion) and the challenger on the older applications, validate
    both on the newest ``oot_share`` of them (out of time), write their reports and register them.

    Raises:
        ScoringError: too little data (fewer than ``min_bads`` bads in training or out of time).
    """
    data = training_set(lake_uri, bank_uri)
    cut = int(len(data) * (1 - oot_share))
    train_df, test_df = data.iloc[:cut], data.iloc[cut:]
    if train_df["bad"].sum() < min_bads[0] or test_df["bad"].sum() < min_bads[1]:
        raise ScoringError(
            f"too few defaults to train: {int(train_df['bad'].sum())} in training, "
            f"{int(test_df['bad'].sum())} out of time (need {min_bads[0]} and {min_bads[1]})"
        )
    X_train, y_train = train_df[list(FEATURE_NAMES)], train_df["bad"].to_numpy()
    X_test, y_test = test_df[list(FEATURE_NAMES)], test_df["bad"].to_numpy()
    window = (str(train_df["applied_on"].min()), str(train_df["applied_on"].max()))
    oot = (str(test_df["applied_on"].min()), str(test_df["applied_on"].max()))
    registry = Registry(models_uri, keys)

    card = Scorecard().fit(X_train, y_train)
    trends = {k: v for k, v in card.monotone_trends().items() if k in card.features_}
    challenger = Challenger(monotone=trends).fit(X_train, y_train)
    sample = Sample(X_train, y_train, X_test, y_test, window, oot)
    champion = validate_and_register(registry, card, card, FAMILY, "champion", sample, "pre-loan scorecard")
    second = validate_and_register(
        registry, challenger, card, FAMILY, "challenger", sample, "pre-loan challenger"
    )
    return TrainingResult(champion, second, len(train_df), len(test_df))


@dataclass(frozen=True)
class Sample:
    """Training rows and the out-of-time rows, with their date ranges."""

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    window: tuple[str, str]
    oot: tuple[str, str]


def validate_and_register(
    registry: Registry, model: Any, card: Scorecard, family: str, status: str, sample: Sample, title: str
) -> dict[str, Any]:
    """Validate ``model`` out of time (scores on ``card``'s scale), write its report and
    register it as ``status`` of ``family``; its registry entry."""
    X_train, X_test, y_test = sample.X_train, sample.X_test, sample.y_test
    p_test = model.predict_proba(X_test)[:, 1]
    p_train = model.predict_proba(X_train)[:, 1]
    s_test, s_train = _scores(card, p_test), _scores(card, p_train)
    calib = metrics.calibration_by_grade(y_test, p_test)
    figures: dict[str, Any] = {
        **metrics.summary(y_test, p_test),
        "psi_train_vs_oot": metrics.psi(s_train, s_test),
        "train_rows": len(X_train),
        "oot_rows": len(X_test),
        "oot_window": list(sample.oot),
        "grades_monotone": _monotone(calib),
    }
    extra = ""
    if model is card:
        csi = {
            f: metrics.csi(
                card.bins_[f].index(X_train[f]), card.bins_[f].index(X_test[f]), len(card.bins_[f].bins)
            )
            for f in card.features_
        }
        figures["csi"] = csi
        extra = "<h2>The card</h2>" + card.points_table().to_html(index=False, float_format="{:.3f}".format)
        extra += "<h2>Characteristic stability (CSI)</h2>" + pd.DataFrame(
            {"feature": list(csi), "csi": list(csi.values())}
        ).to_html(index=False, float_format="{:.4f}".format)
    model_id, kind, sha = identify(model, family)
    heading: dict[str, Any] = {"model_id": model_id, "kind": kind, "sha256": sha, "status": status}
    heading |= {"training_window": sample.window, "metrics": figures}
    page = validation_report(f"Validation of the {title}", heading, y_test, p_test, s_test, s_train, extra)
    entry: dict[str, Any] = registry.register(
        model, family=family, training_window=sample.window, metrics=figures, status=status, report_html=page
    )
    return entry


def _scores(card: Scorecard, p: np.ndarray) -> np.ndarray:
    """Scores on the scorecard's scale for any PD (so two models can be compared on one axis)."""
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.asarray(card.offset_ - card.factor_ * np.log(p / (1 - p)))


def _monotone(calib: pd.DataFrame) -> bool:
    rates = calib["observed_rate"].to_numpy()
    return bool(len(rates) < 2 or np.all(np.diff(rates) >= 0))


def score_uri(lake_uri: str, day: date) -> str:
    return f"{lake_uri.rstrip('/')}/scores/pre_loan/applied_on={day.isoformat()}/part-0.parquet"


def score_days(
    lake_uri: str, bank_uri: str, models_uri: str, days: Sequence[date], keys: ModelKeys | None = None
) -> dict[date, int]:
    """Score the applications made on each of ``days`` with the champion and (re)write each
    day's partition; returns the rows per day. A day without applications leaves no partition."""
    apps = read_bank(bank_uri, "applications")
    applied = apps["applied_on"].astype(str).str[:10]
    wanted = apps[applied.isin({d.isoformat() for d in days})]
    tables: dict[str, pa.Table] = {}
    if not wanted.empty:
        loaded = Registry(models_uri, keys).load(family=FAMILY)
        if not isinstance(loaded.model, Scorecard):
            raise ScoringError(f"the {FAMILY} champion {loaded.entry['model_id']} is not a scorecard")
        table = _score_table(lake_uri, wanted, loaded.model, loaded.entry)
        day_of = pc.strftime(table["applied_on"], format="%Y-%m-%d")
        tables = {d: table.filter(pc.equal(day_of, d)) for d in sorted(set(day_of.to_pylist()))}
    counts = {}
    for day in days:
        uri = score_uri(lake_uri, day)
        part = tables.get(day.isoformat())
        if part is None:
            fs, path = filesystem(uri)
            if fs.exists(path):
                fs.rm(path)
            counts[day] = 0
            continue
        write_parquet(uri, part)
        counts[day] = part.num_rows
    return counts


def _score_table(lake_uri: str, apps: pd.DataFrame, model: Scorecard, entry: dict[str, Any]) -> pa.Table:
    rows = with_features(lake_uri, apps)
    X = rows[list(FEATURE_NAMES)]
    p_bad = model.predict_proba(X)[:, 1]
    reasons = model.reasons(X, n=REASONS)
    out = pd.DataFrame(
        {
            "application_id": rows["application_id"].astype(str),
            "firm_id": rows["firm_id"].astype(str),
            "applied_on": [date.fromisoformat(str(d)[:10]) for d in rows["applied_on"]],
            "as_of": rows["as_of"],
            "pd": p_bad,
            "score": model.points(X),
            "grade": metrics.grade(p_bad),
            **{c: reasons[c].to_numpy() for c in reasons.columns},
            "model_id": entry["model_id"],
            "model_sha256": entry["sha256"],
            "feature_row_hash": rows["feature_row_hash"].astype(str),
            "scored_at": datetime.now(UTC),
        }
    ).sort_values("application_id", ignore_index=True)
    return pa.Table.from_pandas(out, schema=SCORE_SCHEMA, preserve_index=False)


def read_scores(lake_uri: str) -> pd.DataFrame:
    """Every pre-loan score in the lake (empty with the schema's columns when none)."""
    table = read_parquet_files(
        f"{lake_uri.rstrip('/')}/scores/pre_loan", "applied_on=*/part-0.parquet", SCORE_SCHEMA
    )
    return table.to_pandas()


def application_days(bank_uri: str, first: date, last: date) -> list[date]:
    """The days from ``first`` to ``last`` with at least one application."""
    apps = read_bank(bank_uri, "applications")
    days = sorted({date.fromisoformat(str(d)[:10]) for d in apps["applied_on"]})
    return [d for d in days if first <= d <= last]
