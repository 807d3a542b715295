"""Validation metrics and the model registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models import metrics
from models.registry import Registry, RegistryError
from models.scorecard import Scorecard
from models.signing import ModelKeys
from tests.models.test_scorecard import credit_data


def test_discrimination_metrics_on_known_cases() -> None:
    y = np.array([0, 0, 1, 1])
    assert metrics.auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.gini(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.ks(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.ks(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.0
    assert metrics.brier(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0.0


def test_psi_is_zero_on_itself_and_finite_with_empty_bins() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=5000)
    assert metrics.psi(a, a) == 0.0
    shifted = metrics.psi(a, a + 3)  # most of the new sample lands in one bin, the rest empty
    assert np.isfinite(shifted) and shifted > 1
    assert 0 < metrics.psi(a, rng.normal(size=5000)) < 0.02
    assert metrics.csi(np.array([0, 1, 2]), np.array([0, 1, 2]), 3) == 0.0
    assert np.isfinite(metrics.csi(np.array([0, 0, 1]), np.array([2, 2, -1]), 3))


def test_calibration_by_grade_and_hosmer_lemeshow() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.001, 0.3, 20000)
    y = (rng.random(20000) < p).astype(int)
    table = metrics.calibration_by_grade(y, p)
    assert list(table.grade) == ["A", "B", "C", "D", "E", "F", "G"]
    assert table.passed.all()
    assert (table.jeffreys_low <= table.observed_rate).all() and (
        table.observed_rate <= table.jeffreys_high
    ).all()
    assert metrics.hosmer_lemeshow(y, p)[1] > 0.01
    too_low = metrics.calibration_by_grade(y, p / 3)
    assert not too_low.passed.all()
    assert metrics.hosmer_lemeshow(y, p / 3)[1] < 1e-6
    assert list(metrics.grade([0.001, 0.006, 0.5])) == ["A", "B", "G"]


def test_registry_saves_json_checks_the_hash_and_keeps_one_champion(tmp_path: Path) -> None:
    X, y = credit_data(1500)
    first = Scorecard().fit(X, y)
    second = Scorecard(max_bins=3).fit(X, y)
    reg = Registry(str(tmp_path / "models"), ModelKeys.generate())
    a = reg.register(
        first,
        family="pre_loan",
        training_window=("2024-01-01", "2024-06-30"),
        metrics={"auc": 0.7},
        status="champion",
    )
    b = reg.register(
        second,
        family="pre_loan",
        training_window=("2024-01-01", "2024-09-30"),
        metrics={"auc": 0.71},
        status="champion",
    )
    statuses = {e["model_id"]: e["status"] for e in reg.entries()}
    assert statuses == {a["model_id"]: "retired", b["model_id"]: "champion"}
    loaded = reg.load()
    assert loaded.entry["model_id"] == b["model_id"]
    np.testing.assert_array_equal(loaded.model.points(X), second.points(X))
    assert reg.load(a["model_id"]).entry["sha256"] == a["sha256"]
    again = reg.register(
        second, family="pre_loan", training_window=("2024-01-01", "2024-09-30"), metrics={}, status="champion"
    )
    assert again["model_id"] == b["model_id"] and len(reg.entries()) == 2
    artifact = tmp_path / "models" / "artifacts" / f"{b['model_id']}.json"
    doc = json.loads(artifact.read_text())
    doc["intercept"] += 1.0
    artifact.write_text(json.dumps(doc))
    with pytest.raises(RegistryError, match="refusing to load"):
        reg.load()
    with pytest.raises(RegistryError, match="no champion of behaviour"):
        reg.load(family="behaviour")
    with pytest.raises(RegistryError, match="status must be"):
        reg.register(first, family="x", training_window=("a", "b"), metrics={}, status="best")
    (tmp_path / "models" / "manifest.json").write_text("{not json")
    with pytest.raises(RegistryError, match="unreadable"):
        reg.entries()
