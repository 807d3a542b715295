"""Training the pre-loan models: the scorecard (champion) and the challenger, validated out
of time on the newest applications, with their reports, registered in the model registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models import metrics
from models.challenger import Challenger
from models.registry import Registry, identify
from models.report import card_section, table_html, validation_report
from models.scorecard import Scorecard
from models.signing import ModelKeys
from pipelines.books import BooksError, read_bank
from pipelines.features import FEATURE_NAMES
from pipelines.scoring.errors import ScoringError
from pipelines.scoring.inputs import with_features
from pipelines.scoring.labels import labels
from pipelines.sizing import STANDARD_MIN_BADS, is_thin

FAMILY = "pre_loan"


def read_books(bank_uri: str, table: str) -> pd.DataFrame:
    """``read_bank`` for training: a missing table of the books is a ``ScoringError`` (the
    training task fails at once instead of retrying)."""
    try:
        return read_bank(bank_uri, table)
    except BooksError as exc:
        raise ScoringError(str(exc)) from None


@dataclass(frozen=True)
class TrainingResult:
    champion: dict[str, Any]
    challenger: dict[str, Any]
    train_rows: int
    test_rows: int


def training_set(lake_uri: str, bank_uri: str) -> pd.DataFrame:
    """Labelled, fully observed applications with their features, in application order."""
    apps = read_books(bank_uri, "applications")
    labelled = apps.merge(labels(apps, read_books(bank_uri, "loan_performance")), on="application_id")
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
    sample = Sample(X_train, y_train, X_test, y_test, window, oot, min_bads)
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
    min_bads: tuple[int, int] = STANDARD_MIN_BADS  # the thresholds trained with (pipelines.sizing)


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
        "min_bads": list(sample.min_bads),
        "thin_data": is_thin(sample.min_bads),  # trained below the standard thresholds
        "jeffreys_failed_grades": [str(g) for g in calib.loc[~calib["passed"], "grade"]]
        if len(calib)
        else [],
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
        top, share, reasons_html = _reason_summary(card, X_test)
        figures["top_reason_1"], figures["top_reason_1_share"] = top, share
        extra = reasons_html + card_section(card)
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


def _reason_summary(card: Scorecard, X: pd.DataFrame) -> tuple[str | None, float, str]:
    """The most frequent ``reason_1`` out of time, its share of the rows, and the report's
    section: how often each feature is the first reason, against the average applicant."""
    first = card.reasons(X, n=1)["reason_1"]
    counts = first.value_counts(dropna=False)
    table = pd.DataFrame(
        {
            "reason_1": [
                str(k) if isinstance(k, str) else "(none: at or above average on every feature)"
                for k in counts.index
            ],
            "applications": counts.to_numpy(),
            "share": counts.to_numpy() / max(len(first), 1),
        }
    )
    named = counts[[isinstance(k, str) for k in counts.index]]
    top = str(named.index[0]) if len(named) else None
    share = float(named.iloc[0] / len(first)) if len(named) else 0.0
    html_ = (
        "<h2>Reason codes (out of time)</h2><p>A reason is a feature on which the applicant scores "
        "fewer points than the average applicant (the training rows' mean points of that feature, "
        "docs/scorecard.md). The most frequent first reason, "
        f"<code>{top}</code>, is <code>reason_1</code> for {share:.0%} of the {len(first):,} "
        "out-of-time applications.</p>" + table_html(table, "{:.3f}")
    )
    return top, share, html_


def _scores(card: Scorecard, p: np.ndarray) -> np.ndarray:
    """Scores on the scorecard's scale for any PD (so two models can be compared on one axis)."""
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.asarray(card.offset_ - card.factor_ * np.log(p / (1 - p)))


def _monotone(calib: pd.DataFrame) -> bool:
    rates = calib["observed_rate"].to_numpy()
    return bool(len(rates) < 2 or np.all(np.diff(rates) >= 0))
