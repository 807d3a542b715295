"""The rule catalogues are configuration: read by the strict JSON reader, so a repeated
rule setting, NaN or deep nesting is a one-line error naming the file and the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.monitor import RULES as MONITOR_RULES
from pipelines.monitor import Catalogue, MonitorError
from pipelines.review import RULES as REVIEW_RULES
from pipelines.review import ReviewError, Rules


def _repeat_first_threshold(path: Path, out: Path) -> Path:
    text = path.read_text()
    at = text.index('"threshold"')
    end = text.index(",", at)
    out.write_text(text[:end] + ", " + text[at:end] + text[end:])
    return out


def test_monitor_rules_refuse_a_repeated_threshold(tmp_path: Path) -> None:
    assert Catalogue.load(MONITOR_RULES).rules
    bad = _repeat_first_threshold(MONITOR_RULES, tmp_path / "rules.json")
    with pytest.raises(
        MonitorError, match=r"rules\.json: line \d+ column \d+ \(\$\.rules\[0\]\.threshold\): repeated"
    ):
        Catalogue.load(bad)


def test_review_rules_refuse_nan_and_deep_nesting(tmp_path: Path) -> None:
    doc = json.loads(REVIEW_RULES.read_text())
    assert Rules.load(REVIEW_RULES).decisions
    name = next(iter(doc["thresholds"]))
    (tmp_path / "nan.json").write_text(
        json.dumps(doc).replace(json.dumps(name) + ": ", json.dumps(name) + ': NaN, "x": ', 1)
    )
    with pytest.raises(ReviewError, match=rf"\(\$\.thresholds\.{name}\): NaN is not a JSON number"):
        Rules.load(tmp_path / "nan.json")
    (tmp_path / "deep.json").write_text('{"thresholds": ' + "[" * 100_000)
    with pytest.raises(ReviewError, match="nesting deeper than 64") as caught:
        Rules.load(tmp_path / "deep.json")
    assert "\n" not in str(caught.value)
