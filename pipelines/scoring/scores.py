"""The daily pre-loan score table:
``<lake>/scores/pre_loan/applied_month=YYYY-MM/day-YYYY-MM-DD.parquet`` (``pipelines.day_partitions``),
one row per application with PD, score, grade, reason codes and the hash of its feature row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models import metrics
from models.registry import Registry
from models.scorecard import Scorecard
from models.signing import ModelKeys
from pipelines.books import read_bank
from pipelines.day_partitions import PRE_LOAN_SCORES, read_days, write_day
from pipelines.features import FEATURE_NAMES
from pipelines.schemas import SCORE_REASONS as REASONS
from pipelines.schemas import SCORE_SCHEMA
from pipelines.scoring.errors import ScoringError
from pipelines.scoring.inputs import with_features
from pipelines.scoring.reasons import explain
from pipelines.scoring.training import FAMILY


def score_uri(lake_uri: str, day: date) -> str:
    return PRE_LOAN_SCORES.uri(lake_uri, day)


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
        part = tables.get(day.isoformat())
        write_day(PRE_LOAN_SCORES, lake_uri, day, part)
        counts[day] = 0 if part is None else part.num_rows
    return counts


def _score_table(lake_uri: str, apps: pd.DataFrame, model: Scorecard, entry: dict[str, Any]) -> pa.Table:
    rows = with_features(lake_uri, apps)
    X = rows[list(FEATURE_NAMES)]
    p_bad = model.predict_proba(X)[:, 1]
    reasons = explain(model, X, REASONS)
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
    return read_days(PRE_LOAN_SCORES, lake_uri, SCORE_SCHEMA).to_pandas()


def application_days(bank_uri: str, first: date, last: date) -> list[date]:
    """The days from ``first`` to ``last`` with at least one application."""
    apps = read_bank(bank_uri, "applications")
    days = sorted({date.fromisoformat(str(d)[:10]) for d in apps["applied_on"]})
    return [d for d in days if first <= d <= last]
