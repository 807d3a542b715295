"""The features a row of the books is scored on: the snapshot of its as-of month end.

An application on day D is scored on the features as of the last month end before D
(``features_as_of``), in training and in scoring alike, so the model never sees a record
sealed after the application.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd

from pipelines.calendar import as_date, month_end_on_or_before
from pipelines.features import FEATURE_NAMES, FeatureError, build_snapshot, read_snapshot
from pipelines.features.catalogue import EMPTY


def features_as_of(applied_on: date) -> date:
    """The snapshot an application of ``applied_on`` is scored on: the last month end before it."""
    return month_end_on_or_before(applied_on - timedelta(days=1))


def _ensure_snapshots(lake_uri: str, months: Sequence[date]) -> dict[date, pd.DataFrame]:
    out = {}
    for as_of in sorted(set(months)):
        try:
            out[as_of] = read_snapshot(lake_uri, as_of)
        except FeatureError:
            build_snapshot(lake_uri, as_of)
            out[as_of] = read_snapshot(lake_uri, as_of)
    return out


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
